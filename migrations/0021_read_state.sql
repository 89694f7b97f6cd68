-- 0021_read_state.sql -- read positions, unread counts, read receipts and search (DESIGN §8).
--
-- 1. user_rooms.last_read_seq: a member's read position in the room, which
--    only moves forward (chat_mark_read, and every message the member
--    sends: chat_send_batch moves the sender's position to it). A new
--    membership starts at the room's last_seq (trigger
--    user_rooms_read_start): history from before one joined is not news.
--    Existing memberships start at their room's last_seq, so an upgrade
--    shows no old message as unread.
-- 2. unread (on every Room object of a member, null for a non-member) is
--    computed, not stored and not counted by scanning messages:
--        last_seq - last_read_seq - (deleted messages with seq in
--        (last_read_seq, last_seq])
--    Own messages never count because a member's own messages are never
--    after their read position: sending moves it to the message, and a
--    position only moves forward. Deleted messages are counted in
--    message_deletions (room_id, seq), filled by chat_unread_forget(room,
--    seq, author), which the delete path calls, or the trigger
--    messages_unread_forget does for it when a message's content becomes
--    NULL (the tombstone of 0020). Per room that is a primary-key probe of
--    user_rooms and an index probe of message_deletions, whatever the
--    number of messages.
-- 3. chat_mark_read: members only (a public room's non-member: forbidden;
--    a room one cannot see: not_found, as elsewhere); a seq beyond the
--    room's last_seq is clamped to it, a seq at or below the position
--    changes nothing and answers the position. A move sends the NOTIFY
--    read {user_id, room_id, last_read_seq, unread} to the user's
--    connections on every bridge.
-- 4. chat_room_reads: the members' read positions (receipts), a page.
-- 5. chat_messages_search: full-text search of one room's live messages
--    with the 'simple' configuration (no stemming, no stop words: it works
--    the same for every language), through a GIN index on
--    to_tsvector('simple', content); the query goes through
--    websearch_to_tsquery, which accepts any text without a syntax error.
--    A tombstone's NULL content matches nothing.

ALTER TABLE user_rooms ADD COLUMN last_read_seq bigint NOT NULL DEFAULT 0
    CONSTRAINT user_rooms_last_read_seq_check CHECK (last_read_seq >= 0);

UPDATE user_rooms ur SET last_read_seq = r.last_seq FROM rooms r WHERE r.id = ur.room_id;

-- A new member has read the room up to now.
CREATE FUNCTION chat_read_start() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.last_read_seq := greatest(NEW.last_read_seq,
                                  coalesce((SELECT r.last_seq FROM rooms r WHERE r.id = NEW.room_id), 0));
    RETURN NEW;
END
$$;

CREATE TRIGGER user_rooms_read_start BEFORE INSERT ON user_rooms
    FOR EACH ROW EXECUTE FUNCTION chat_read_start();

-- The seqs of deleted messages, for the unread counts. A room goes with its rows.
-- id numbers the deletions: its maximum is part of the key of the cached
-- room lists (fcgi-app/db.c DB_ROOMS_VERSION), which a deletion must
-- make stale.
CREATE TABLE message_deletions (
    room_id text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq     bigint NOT NULL,
    id      bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    PRIMARY KEY (room_id, seq)
);
GRANT SELECT, INSERT ON message_deletions TO chat_app;

-- Takes message seq of p_room (by p_author) out of every member's unread
-- count: the delete path calls it in the transaction that deletes the
-- message (or the trigger below does). Calling it again for the same
-- message changes nothing. p_author is the deleted message's author: their
-- own count never held it (their position is at or past their messages),
-- so nothing depends on it beyond saying what was deleted.
CREATE FUNCTION chat_unread_forget(p_room text, p_seq bigint, p_author text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO message_deletions (room_id, seq) VALUES (p_room, p_seq)
    ON CONFLICT DO NOTHING
$$;

CREATE FUNCTION chat_unread_forget_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chat_unread_forget(NEW.room_id, NEW.seq, NEW.user_id);
    RETURN NULL;
END
$$;

-- A message whose text is erased (the tombstone) leaves the unread counts,
-- whichever path erased it.
CREATE TRIGGER messages_unread_forget AFTER UPDATE OF content ON messages
    FOR EACH ROW WHEN (OLD.content IS NOT NULL AND NEW.content IS NULL)
    EXECUTE FUNCTION chat_unread_forget_trigger();

-- The unread count of a member whose position is p_read in p_room, whose
-- last_seq is p_last; NULL for a non-member (p_read NULL).
CREATE FUNCTION chat_unread(p_room text, p_last bigint, p_read bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_read IS NOT NULL THEN
        greatest(p_last - p_read
                 - (SELECT count(*) FROM message_deletions d
                     WHERE d.room_id = p_room AND d.seq > p_read AND d.seq <= p_last), 0)
    END
$$;

-- ---- the Room object gains unread ------------------------------------------------

-- As in 0019, with "unread" (chat_unread of p_read, null for a non-member).
CREATE FUNCTION chat_room_personal(o json, p_role text, p_room text, p_user text, p_read bigint)
RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    peer   users%ROWTYPE;
    unread bigint := chat_unread(p_room, (o->>'last_seq')::bigint, p_read);
BEGIN
    IF o->>'visibility' = 'direct' THEN
        SELECT u.* INTO peer FROM direct_rooms d
          JOIN users u ON u.id = CASE WHEN d.user_lo = p_user THEN d.user_hi ELSE d.user_lo END
         WHERE d.room_id = p_room;
        RETURN (o::jsonb || jsonb_build_object(
                    'role', p_role, 'unread', unread, 'name', peer.username,
                    'peer', jsonb_build_object('id', peer.id, 'username', peer.username)))::json;
    END IF;
    -- Spliced as text: the keys keep their order, and no jsonb round trip.
    RETURN (left(o::text, -1) || ', "role" : ' || coalesce(to_json(p_role)::text, 'null')
            || ', "unread" : ' || coalesce(unread::text, 'null') || '}')::json;
END
$$;

-- The 0019 form, for callers that have no read position at hand: looks it up.
CREATE OR REPLACE FUNCTION chat_room_personal(o json, p_role text, p_room text, p_user text)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT chat_room_personal(o, p_role, p_room, p_user,
                              (SELECT ur.last_read_seq FROM user_rooms ur
                                WHERE ur.user_id = p_user AND ur.room_id = p_room))
$$;

CREATE OR REPLACE FUNCTION chat_room_json_for(p_user text, p_room text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT chat_room_personal(o.obj, ur.role, o.id, p_user, ur.last_read_seq)
              FROM chat_room_objects o
              LEFT JOIN user_rooms ur ON ur.room_id = o.id AND ur.user_id = p_user
             WHERE o.id = p_room);
END
$$;

CREATE OR REPLACE FUNCTION chat_rooms_json(p_user text, p_limit integer, p_offset integer)
RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(json_agg(chat_room_personal(x.obj, x.role, x.id, p_user,
                                                        x.last_read_seq)
                                     ORDER BY x.created_at, x.id), '[]'::json)
              FROM (SELECT o.id, o.created_at, o.obj, ur.role, ur.last_read_seq
                      FROM chat_room_objects o
                      LEFT JOIN user_rooms ur ON ur.room_id = o.id AND ur.user_id = p_user
                     WHERE o.visibility = 'public' OR ur.user_id IS NOT NULL
                     ORDER BY o.created_at, o.id
                     LIMIT p_limit OFFSET p_offset) x);
END
$$;

CREATE OR REPLACE FUNCTION chat_member_rooms_json(p_user text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(json_agg(chat_room_personal(o.obj, ur.role, o.id, p_user,
                                                        ur.last_read_seq)
                                     ORDER BY ur.joined_at, o.id), '[]'::json)
              FROM user_rooms ur JOIN chat_room_objects o ON o.id = ur.room_id
             WHERE ur.user_id = p_user);
END
$$;

-- ---- read positions ----------------------------------------------------------------

-- Moves p_user's read position in p_room forward to p_seq (at most the
-- room's last_seq). data: {room_id, last_read_seq, unread}. A move sends
-- read {user_id, room_id, last_read_seq, unread} to the user's connections.
CREATE FUNCTION chat_mark_read(p_user text, p_room text, p_seq bigint,
                               OUT err text, OUT msg text, OUT field text, OUT retry integer,
                               OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    last bigint;
    pos  bigint;
    n    bigint;
BEGIN
    IF NOT chat_room_visible(p_user, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF p_seq IS NULL OR p_seq < 0 THEN
        err := 'validation_error'; msg := 'seq must be a non-negative integer'; field := 'seq';
        RETURN;
    END IF;
    SELECT r.last_seq INTO last FROM rooms r WHERE r.id = p_room;
    UPDATE user_rooms ur SET last_read_seq = least(p_seq, last)
     WHERE ur.user_id = p_user AND ur.room_id = p_room AND ur.last_read_seq < least(p_seq, last)
    RETURNING ur.last_read_seq INTO pos;
    IF FOUND THEN
        n := chat_unread(p_room, last, pos);
        PERFORM chat_notify(json_build_object('type', 'read', 'user_id', p_user,
                                              'room_id', p_room, 'last_read_seq', pos,
                                              'unread', n));
    ELSE
        SELECT ur.last_read_seq INTO pos FROM user_rooms ur
         WHERE ur.user_id = p_user AND ur.room_id = p_room;
        IF NOT FOUND THEN
            err := 'forbidden'; msg := 'join the room first'; field := 'room_id';
            RETURN;
        END IF;
        n := chat_unread(p_room, greatest(last, pos), pos);
    END IF;
    data := json_build_object('room_id', p_room, 'last_read_seq', pos, 'unread', n);
END
$$;

-- The read positions of p_room's members (read receipts), furthest first,
-- a page of p_limit from p_offset; members only.
CREATE FUNCTION chat_room_reads(p_user text, p_room text, p_limit integer, p_offset integer,
                                OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
    reads json;
BEGIN
    IF NOT chat_room_visible(p_user, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM user_rooms ur WHERE ur.user_id = p_user AND ur.room_id = p_room) THEN
        err := 'forbidden'; msg := 'join the room first'; field := 'room_id';
        RETURN;
    END IF;
    SELECT count(*) INTO total FROM user_rooms WHERE room_id = p_room;
    SELECT coalesce(json_agg(json_build_object('user_id', x.user_id, 'username', x.username,
                                               'last_read_seq', x.last_read_seq)
                             ORDER BY x.last_read_seq DESC, x.user_id), '[]'::json)
      INTO reads
      FROM (SELECT u.id AS user_id, u.username, ur.last_read_seq
              FROM user_rooms ur JOIN users u ON u.id = ur.user_id
             WHERE ur.room_id = p_room
             ORDER BY ur.last_read_seq DESC, u.id LIMIT p_limit OFFSET p_offset) x;
    data := json_build_object('reads', reads, 'total', total,
                              'has_more', p_offset::bigint + p_limit < total);
END
$$;

-- ---- search --------------------------------------------------------------------------

CREATE INDEX messages_content_fts ON messages USING gin (to_tsvector('simple', content));

-- The newest p_limit live messages of p_room matching p_q (websearch
-- syntax: words, "phrases", or, -not), newest first, for a caller who may
-- read the room. Planned for each query (plan_cache_mode): a rare word
-- goes through the GIN index, a common one walks the room's newest
-- messages backwards until p_limit match.
CREATE FUNCTION chat_messages_search(p_user text, p_room text, p_q text, p_limit integer,
                                     OUT err text, OUT msg text, OUT field text,
                                     OUT retry integer, OUT data json)
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
SET client_min_messages = warning
AS $$
DECLARE
    q   tsquery := websearch_to_tsquery('simple', p_q);
    arr json;
BEGIN
    IF NOT chat_room_visible(p_user, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    SELECT coalesce(json_agg(chat_message_json(x.m) ORDER BY (x.m).seq DESC), '[]'::json)
      INTO arr
      FROM (SELECT m FROM messages m
             WHERE m.room_id = p_room AND to_tsvector('simple', m.content) @@ q
             ORDER BY m.seq DESC LIMIT p_limit) x;
    data := json_build_object('messages', arr);
END
$$;

-- ---- sending reads --------------------------------------------------------------------

-- As in 0019, and the sender's read position moves to their message.
CREATE OR REPLACE FUNCTION chat_send_batch(p_users text[], p_rooms text[], p_contents text[],
                                           p_client_ids text[], p_rates integer[],
                                           p_windows integer[])
RETURNS TABLE (err text, msg text, field text, retry integer, data json)
LANGUAGE plpgsql AS $$
DECLARE
    n         integer := coalesce(cardinality(p_users), 0);
    room_ids  text[] := '{}';
    room_next bigint[] := '{}';
    k         integer;
    h         bigint;
    cur       bigint;
    uname     text;
    w         integer;
    m         messages%ROWTYPE;
    mj        json;
    payload   json;
    sent_u    text[] := '{}';
    sent_r    text[] := '{}';
    sent_s    bigint[] := '{}';
BEGIN
    IF cardinality(p_rooms) IS DISTINCT FROM n OR cardinality(p_contents) IS DISTINCT FROM n
       OR cardinality(p_client_ids) IS DISTINCT FROM n OR cardinality(p_rates) IS DISTINCT FROM n
       OR cardinality(p_windows) IS DISTINCT FROM n THEN
        RAISE EXCEPTION 'chat_send_batch: arrays of different lengths';
    END IF;
    -- Every lock first, in the global order (see 0014_lock_order.sql).
    FOR h IN SELECT DISTINCT hashtextextended('chat.client:' || p_users[i] || ':' || p_client_ids[i], 0)
               FROM generate_subscripts(p_users, 1) i
              WHERE p_client_ids[i] IS NOT NULL ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(h);
    END LOOP;
    PERFORM 1 FROM rooms r WHERE r.id = ANY (p_rooms) ORDER BY r.id FOR NO KEY UPDATE;
    FOR h IN SELECT DISTINCT hashtextextended('chat.rate:msg:' || p_users[i], 0)
               FROM generate_subscripts(p_users, 1) i
              WHERE p_rates[i] > 0 AND p_windows[i] > 0 ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(h);
    END LOOP;
    FOR i IN 1 .. n LOOP
        err := NULL; msg := NULL; field := NULL; retry := NULL; data := NULL;
        SELECT u.username INTO uname
          FROM user_rooms ur JOIN users u ON u.id = ur.user_id
         WHERE ur.user_id = p_users[i] AND ur.room_id = p_rooms[i];
        IF NOT FOUND THEN
            IF NOT chat_room_visible(p_users[i], p_rooms[i]) THEN
                err := 'not_found'; msg := 'room not found'; field := 'room_id';
            ELSE
                err := 'forbidden'; msg := 'join the room before sending to it'; field := 'room_id';
            END IF;
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF p_client_ids[i] IS NOT NULL THEN
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
            -- Locked above; read under the lock.
            SELECT r.last_seq INTO cur FROM rooms r WHERE r.id = p_rooms[i];
            room_ids := room_ids || p_rooms[i];
            room_next := room_next || cur;
            k := cardinality(room_ids);
        END IF;
        room_next[k] := room_next[k] + 1;
        INSERT INTO messages (room_id, seq, user_id, username, content, "timestamp", client_id)
        VALUES (p_rooms[i], room_next[k], p_users[i], uname, p_contents[i], clock_timestamp(),
                p_client_ids[i])
        RETURNING * INTO m;
        sent_u := sent_u || m.user_id;
        sent_r := sent_r || m.room_id;
        sent_s := sent_s || m.seq;
        mj := chat_message_json(m);
        payload := json_build_object('type', 'new_message', 'room_id', m.room_id, 'seq', m.seq,
                                     'message', mj);
        -- As in 0009: below 800 bytes of content and client_id the payload
        -- cannot reach 7900 bytes.
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
    -- Sending reads the room up to one's own message (0021). The rows of
    -- rooms locked above are the rooms of these memberships: two batches
    -- that share a membership met on its room's row first.
    UPDATE user_rooms ur SET last_read_seq = x.seq
      FROM (SELECT s.u, s.r, max(s.seq) AS seq
              FROM unnest(sent_u, sent_r, sent_s) AS s(u, r, seq) GROUP BY s.u, s.r) x
     WHERE ur.user_id = x.u AND ur.room_id = x.r AND ur.last_read_seq < x.seq;
END
$$;
