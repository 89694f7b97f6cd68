-- 0009_send_batch.sql -- many send_message requests in one call.
--
-- A bridge under load sends the send_message requests that queued up while
-- the previous transaction was in flight as one call of chat_send_batch:
-- element i of every array is request i, and row i of the result answers it
-- exactly as chat_send_message would have (err, msg, field, retry, data),
-- with the same checks in the same order and the same NOTIFY per message.
-- chat_send_message becomes a batch of one, so both paths share this code.
--
-- What it saves against N calls of chat_send_message (measured in psql on
-- the 2-core machine, 1000 messages to one room in one transaction: 203 ms
-- against 30 ms for a plain INSERT of the same rows):
--   * the room's row is locked and read once per batch and written once at
--     the end. One UPDATE per message in one transaction leaves a chain of
--     row versions that every later UPDATE walks (52 us each at 1000);
--   * membership and the sender's name come from one join;
--   * the NOTIFY payload is measured only when the content could make it
--     pass the 8000-byte limit.
-- Each message still gets its own NOTIFY (docs/notify.md), in seq order.

CREATE FUNCTION chat_send_batch(p_users text[], p_rooms text[], p_contents text[],
                                p_client_ids text[], p_rates integer[], p_windows integer[])
RETURNS TABLE (err text, msg text, field text, retry integer, data json)
LANGUAGE plpgsql AS $$
DECLARE
    n         integer := coalesce(cardinality(p_users), 0);
    room_ids  text[] := '{}';
    room_next bigint[] := '{}';
    k         integer;
    cur       bigint;
    uname     text;
    w         integer;
    m         messages%ROWTYPE;
    mj        json;
    payload   json;
BEGIN
    IF cardinality(p_rooms) IS DISTINCT FROM n OR cardinality(p_contents) IS DISTINCT FROM n
       OR cardinality(p_client_ids) IS DISTINCT FROM n OR cardinality(p_rates) IS DISTINCT FROM n
       OR cardinality(p_windows) IS DISTINCT FROM n THEN
        RAISE EXCEPTION 'chat_send_batch: arrays of different lengths';
    END IF;
    FOR i IN 1 .. n LOOP
        err := NULL; msg := NULL; field := NULL; retry := NULL; data := NULL;
        SELECT u.username INTO uname
          FROM user_rooms ur JOIN users u ON u.id = ur.user_id
         WHERE ur.user_id = p_users[i] AND ur.room_id = p_rooms[i];
        IF NOT FOUND THEN
            IF NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = p_rooms[i]) THEN
                err := 'not_found'; msg := 'room not found'; field := 'room_id';
            ELSE
                err := 'forbidden'; msg := 'join the room before sending to it'; field := 'room_id';
            END IF;
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF p_client_ids[i] IS NOT NULL THEN
            PERFORM pg_advisory_xact_lock(
                hashtextextended('chat.client:' || p_users[i] || ':' || p_client_ids[i], 0));
            SELECT * INTO m FROM messages x
             WHERE x.user_id = p_users[i] AND x.client_id = p_client_ids[i];
            IF FOUND THEN
                IF m.room_id <> p_rooms[i] OR m.content <> p_contents[i] THEN
                    err := 'conflict'; msg := 'client_id was already used for another message';
                    field := 'client_id';
                ELSE
                    data := json_build_object('message', chat_message_json(m), 'duplicate', true);
                END IF;
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;
        w := chat_rate_take('msg:' || p_users[i], p_rates[i], p_windows[i]);
        IF w > 0 THEN
            err := 'rate_limited'; msg := 'too many messages, slow down'; retry := w;
            RETURN NEXT;
            CONTINUE;
        END IF;
        k := array_position(room_ids, p_rooms[i]);
        IF k IS NULL THEN
            -- The row lock orders this batch against every other writer of
            -- the room until commit, as chat_send_message's UPDATE does.
            SELECT r.last_seq INTO cur FROM rooms r WHERE r.id = p_rooms[i] FOR NO KEY UPDATE;
            room_ids := room_ids || p_rooms[i];
            room_next := room_next || cur;
            k := cardinality(room_ids);
        END IF;
        room_next[k] := room_next[k] + 1;
        INSERT INTO messages (room_id, seq, user_id, username, content, "timestamp", client_id)
        VALUES (p_rooms[i], room_next[k], p_users[i], uname, p_contents[i], clock_timestamp(),
                p_client_ids[i])
        RETURNING * INTO m;
        mj := chat_message_json(m);
        payload := json_build_object('type', 'new_message', 'room_id', m.room_id, 'seq', m.seq,
                                     'message', mj);
        -- JSON escaping at most sextuples a byte, and the rest of the payload
        -- (ids, name, times) stays under 1000 bytes: below 800 bytes of
        -- content and client_id the payload cannot reach 7900 bytes.
        IF octet_length(m.content) + coalesce(octet_length(m.client_id), 0) > 800
           AND octet_length(payload::text) > 7900 THEN
            payload := json_build_object('type', 'new_message', 'room_id', m.room_id,
                                         'seq', m.seq);
        END IF;
        PERFORM chat_notify(payload);
        data := json_build_object('message', mj, 'duplicate', false);
        RETURN NEXT;
    END LOOP;
    UPDATE rooms r SET last_seq = x.seq
      FROM unnest(room_ids, room_next) AS x(id, seq)
     WHERE r.id = x.id;
END
$$;

GRANT EXECUTE ON FUNCTION chat_send_batch(text[], text[], text[], text[], integer[], integer[])
    TO chat_app;

-- One implementation: a single send (POST /api/messages, a lone
-- send_message) is a batch of one.
CREATE OR REPLACE FUNCTION chat_send_message(p_user text, p_room text, p_content text,
                                             p_client_id text, p_rate integer, p_window integer,
                                             OUT err text, OUT msg text, OUT field text,
                                             OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT b.err, b.msg, b.field, b.retry, b.data INTO err, msg, field, retry, data
      FROM chat_send_batch(ARRAY[p_user], ARRAY[p_room], ARRAY[p_content], ARRAY[p_client_id],
                           ARRAY[p_rate], ARRAY[p_window]) b;
END
$$;
