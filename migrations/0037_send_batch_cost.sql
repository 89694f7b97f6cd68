-- 0037_send_batch_cost.sql -- what chat_send_batch and the messages
-- insert trigger spent on nothing (issue 16 item 1); chat_send_many.
--
-- perf of the sending backend with call graphs (DWARF; bench/README.md,
-- "Issue 16, round 5") during durable-if32, batches of about 100 messages
-- from 10 senders to one room:
--
-- 1. chat_send_batch returned each request's data as json: its text,
--    built by concatenation, was parsed again by the cast (json_in,
--    1.2-1.5 % of the backend) only for libpq to send it back as text.
--    chat_send_many is the same function answering data as text; chat-ws
--    calls it from this version on, and chat_send_message (the REST
--    path's single send, still answering json) calls it too.
--    chat_send_batch stays, answering json, as a wrapper of
--    chat_send_many for the bridges still running the version before:
--    they prepared their statement with a json column, and a function
--    dropped or retyped under them would fail every batched send with
--    "cached plan must not change result type" until they restart.
-- 2. The rooms were matched against p_rooms, the room of every request:
--    `r.id = ANY (p_rooms)` compares each rooms row the plan visits with
--    all n entries (texteq, 3.3 % of the backend where the planner scans
--    rooms). The batch's distinct rooms are taken once (v_rooms) and used
--    for the lock, the seq read and the last_seq update (o_room holds
--    only rooms of p_rooms).
-- 3. The trigger checked every new row's room and user: the lock and the
--    check each probed per row (index scans, 8 % of the backend for 100
--    rows of one room and ten users). It now takes the distinct keys
--    once, locks them in the same sorted order FOR KEY SHARE, and looks
--    for a missing key only when fewer rows were locked than keys given:
--    the same locks, the same refusals (SQLSTATE 23503, same message).
--
-- Everything else is 0034's function and 0027's trigger as they were.

CREATE FUNCTION chat_send_many(p_users text[], p_rooms text[], p_contents text[],
                               p_client_ids text[], p_rates integer[],
                               p_windows integer[])
RETURNS TABLE (err text, msg text, field text, retry integer, data text)
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    n        integer := coalesce(cardinality(p_users), 0);
    -- Per request i (1..n):
    a_name   text[];     -- the sender's username when a member, else NULL
    a_old    text[];     -- the JSON of an earlier message with its client_id
    a_oldbad boolean[];  -- that message is in another room or has another text
    a_first  integer[];  -- the first request of the batch with its client_id
    r_err    text[] := array_fill(NULL::text, ARRAY[n]);
    r_msg    text[] := array_fill(NULL::text, ARRAY[n]);
    r_field  text[] := array_fill(NULL::text, ARRAY[n]);
    r_retry  integer[] := array_fill(NULL::integer, ARRAY[n]);
    r_data   text[] := array_fill(NULL::text, ARRAY[n]);
    r_json   text[] := array_fill(NULL::text, ARRAY[n]);  -- the message stored for i
    a_new    integer[] := '{}';  -- requests to store, in order
    rated    boolean := false;
    lim_i    integer[];
    lim_w    integer[];
    -- The stored messages, ordered by room and seq.
    o_i      integer[];
    o_room   text[];
    o_seq    bigint[];
    o_json   text[];
    cnt      integer;
    j        integer;
    -- The notification being filled.
    cur_room text;
    head     text;
    buf      text;
    blen     integer := 0;
    ts       text;
    v_rooms  text[];     -- the batch's distinct rooms
BEGIN
    IF cardinality(p_rooms) IS DISTINCT FROM n OR cardinality(p_contents) IS DISTINCT FROM n
       OR cardinality(p_client_ids) IS DISTINCT FROM n OR cardinality(p_rates) IS DISTINCT FROM n
       OR cardinality(p_windows) IS DISTINCT FROM n THEN
        RAISE EXCEPTION 'chat_send_many: arrays of different lengths';
    END IF;
    IF n = 0 THEN
        RETURN;
    END IF;
    v_rooms := ARRAY(SELECT DISTINCT x FROM unnest(p_rooms) x WHERE x IS NOT NULL);
    -- Every lock first, in the global order (see 0014_lock_order.sql).
    PERFORM pg_advisory_xact_lock(x.h)
       FROM (SELECT DISTINCT hashtextextended('chat.client:' || p_users[i] || ':' || p_client_ids[i], 0) AS h
               FROM generate_subscripts(p_users, 1) i
              WHERE p_client_ids[i] IS NOT NULL ORDER BY 1) x;
    PERFORM 1 FROM rooms r WHERE r.id = ANY (v_rooms) ORDER BY r.id FOR NO KEY UPDATE;
    PERFORM pg_advisory_xact_lock(x.h)
       FROM (SELECT DISTINCT hashtextextended('chat.rate:msg:' || p_users[i], 0) AS h
               FROM generate_subscripts(p_users, 1) i
              WHERE p_rates[i] > 0 AND p_windows[i] > 0 ORDER BY 1) x;

    -- Membership, sender's name and an earlier message with the client_id,
    -- for every request at once. OFFSET 0 keeps each lookup an index probe
    -- per request: flattened into joins, the plan cached for the function
    -- (which cannot know the batch's size) hashed whole tables. The
    -- requests come from unnest (0034): with p_users[i] in their place,
    -- every row a lookup visited subscripted the arrays again.
    SELECT array_agg(c.uname ORDER BY c.i), array_agg(c.old ORDER BY c.i),
           array_agg(c.oldbad ORDER BY c.i), array_agg(c.first_i ORDER BY c.i)
      INTO a_name, a_old, a_oldbad, a_first
      FROM (SELECT q.i, nm.username AS uname,
                   CASE WHEN x.id IS NOT NULL THEN chat_message_json(x)::text END AS old,
                   (x.room_id <> q.room OR x.content <> q.content) IS TRUE AS oldbad,
                   CASE WHEN q.cid IS NOT NULL AND nm.username IS NOT NULL AND x.id IS NULL
                        THEN min(q.i) OVER (PARTITION BY q.usr, q.cid,
                                            nm.username IS NOT NULL AND x.id IS NULL)
                   END AS first_i
              FROM (SELECT t.o::integer AS i, t.usr, t.room, t.content, t.cid
                      FROM unnest(p_users, p_rooms, p_contents, p_client_ids)
                           WITH ORDINALITY AS t(usr, room, content, cid, o)) q
              LEFT JOIN LATERAL (SELECT u.username
                                   FROM user_rooms ur JOIN users u ON u.id = ur.user_id
                                  WHERE ur.user_id = q.usr AND ur.room_id = q.room
                                 OFFSET 0) nm ON true
              LEFT JOIN LATERAL (SELECT y.* FROM messages y
                                  WHERE q.cid IS NOT NULL AND nm.username IS NOT NULL
                                    AND y.user_id = q.usr AND y.client_id = q.cid
                                 OFFSET 0) x ON true) c;

    FOR i IN 1 .. n LOOP
        IF a_name[i] IS NULL THEN
            IF NOT chat_room_visible(p_users[i], p_rooms[i]) THEN
                r_err[i] := 'not_found'; r_msg[i] := 'room not found';
            ELSE
                r_err[i] := 'forbidden'; r_msg[i] := 'join the room before sending to it';
            END IF;
            r_field[i] := 'room_id';
        ELSIF a_old[i] IS NOT NULL THEN
            IF a_oldbad[i] THEN
                r_err[i] := 'conflict'; r_msg[i] := 'client_id was already used for another message';
                r_field[i] := 'client_id';
            ELSE
                r_data[i] := '{"message":' || a_old[i] || ',"duplicate":true}';
            END IF;
        ELSIF a_first[i] IS NULL OR a_first[i] = i THEN
            a_new := a_new || i;
            rated := rated OR coalesce(p_rates[i] > 0 AND p_windows[i] > 0, false);
        END IF;
        -- Otherwise a later request with the client_id of a_first[i]: below.
    END LOOP;

    -- The rate limit, once per sender: the first `granted` of the sender's
    -- new messages pass. A CTE, so that each bucket is taken exactly once.
    IF rated THEN
        WITH w AS (
            SELECT i, p_users[i] AS usr, row_number() OVER (PARTITION BY p_users[i] ORDER BY i) AS rk
              FROM unnest(a_new) i WHERE p_rates[i] > 0 AND p_windows[i] > 0
        ), g AS (
            SELECT x.usr, t.granted, t.retry
              FROM (SELECT w.usr, min(p_rates[w.i]) AS rt, min(p_windows[w.i]) AS wn,
                           count(*)::integer AS k
                      FROM w GROUP BY w.usr ORDER BY w.usr) x,
                   LATERAL chat_rate_take_n('msg:' || x.usr, x.rt, x.wn, x.k) t
        )
        SELECT array_agg(w.i), array_agg(g.retry) INTO lim_i, lim_w
          FROM w JOIN g ON g.usr = w.usr WHERE w.rk > g.granted;
        IF lim_i IS NOT NULL THEN
            FOR k IN 1 .. cardinality(lim_i) LOOP
                r_err[lim_i[k]] := 'rate_limited'; r_msg[lim_i[k]] := 'too many messages, slow down';
                r_retry[lim_i[k]] := lim_w[k];
            END LOOP;
            a_new := ARRAY(SELECT i FROM unnest(a_new) i WHERE i <> ALL (lim_i) ORDER BY i);
        END IF;
    END IF;

    IF cardinality(a_new) > 0 THEN
        -- The rooms' rows are locked above; read under the lock.
        WITH src AS (
            SELECT i, p_rooms[i] AS room, p_users[i] AS usr, a_name[i] AS uname,
                   p_contents[i] AS content, p_client_ids[i] AS cid,
                   r.last_seq + row_number() OVER (PARTITION BY p_rooms[i] ORDER BY i) AS seq
              FROM unnest(a_new) i
              JOIN (SELECT r.id, r.last_seq FROM rooms r WHERE r.id = ANY (v_rooms)) r
                ON r.id = p_rooms[i]
        ), ins AS (
            INSERT INTO messages (room_id, seq, user_id, username, content, "timestamp", client_id)
            SELECT room, seq, usr, uname, content, clock_timestamp(), cid FROM src ORDER BY i
            RETURNING messages.room_id, messages.seq, chat_message_json(messages)::text AS mj
        )
        SELECT array_agg(s.i ORDER BY ins.room_id, ins.seq),
               array_agg(ins.room_id ORDER BY ins.room_id, ins.seq),
               array_agg(ins.seq ORDER BY ins.room_id, ins.seq),
               array_agg(ins.mj ORDER BY ins.room_id, ins.seq)
          INTO o_i, o_room, o_seq, o_json
          FROM ins JOIN src s ON s.room = ins.room_id AND s.seq = ins.seq;

        UPDATE rooms r SET last_seq = x.seq
          FROM (SELECT room, max(seq) AS seq FROM unnest(o_room, o_seq) AS t(room, seq)
                 GROUP BY room) x
         WHERE r.id = x.room AND r.id = ANY (v_rooms);

        cnt := cardinality(o_i);
        FOR k IN 1 .. cnt LOOP
            r_json[o_i[k]] := o_json[k];
            r_data[o_i[k]] := '{"message":' || o_json[k] || ',"duplicate":false}';
        END LOOP;

        -- One new_messages per room, split under the payload limit; the
        -- loop runs once more (k = cnt + 1) to send the last one.
        FOR k IN 1 .. cnt + 1 LOOP
            IF buf IS NOT NULL
               AND (k > cnt OR o_room[k] <> cur_room
                    OR octet_length(head) + blen + 1 + octet_length(o_json[k]) + 32 > 7900) THEN
                ts := (extract(epoch FROM clock_timestamp()) * 1000)::bigint::text;
                PERFORM pg_notify('chat_events', head || buf || '],"ts":' || ts || '}');
                buf := NULL;
                blen := 0;
            END IF;
            EXIT WHEN k > cnt;
            IF cur_room IS DISTINCT FROM o_room[k] THEN
                cur_room := o_room[k];
                head := '{"type":"new_messages","room_id":' || to_json(cur_room)::text
                        || ',"messages":[';
            END IF;
            IF octet_length(head) + octet_length(o_json[k]) + 32 > 7900 THEN
                -- Too long to travel: the reference, in its place.
                ts := (extract(epoch FROM clock_timestamp()) * 1000)::bigint::text;
                PERFORM pg_notify('chat_events',
                                  '{"type":"new_message","room_id":' || to_json(cur_room)::text
                                  || ',"seq":' || o_seq[k] || ',"ts":' || ts || '}');
            ELSIF buf IS NULL THEN
                buf := o_json[k];
                blen := octet_length(o_json[k]);
            ELSE
                buf := buf || ',' || o_json[k];
                blen := blen + 1 + octet_length(o_json[k]);
            END IF;
        END LOOP;
    END IF;

    -- Later requests with a client_id the batch used first.
    FOR i IN 1 .. n LOOP
        j := a_first[i];
        CONTINUE WHEN a_name[i] IS NULL OR a_old[i] IS NOT NULL OR j IS NULL OR j = i;
        IF r_err[j] = 'rate_limited' THEN
            r_err[i] := r_err[j]; r_msg[i] := r_msg[j]; r_retry[i] := r_retry[j];
        ELSIF p_rooms[i] <> p_rooms[j] OR p_contents[i] <> p_contents[j] THEN
            r_err[i] := 'conflict'; r_msg[i] := 'client_id was already used for another message';
            r_field[i] := 'client_id';
        ELSE
            r_data[i] := '{"message":' || r_json[j] || ',"duplicate":true}';
        END IF;
    END LOOP;

    RETURN QUERY
        SELECT t.e, t.m, t.f, t.r, t.d
          FROM unnest(r_err, r_msg, r_field, r_retry, r_data) WITH ORDINALITY AS t(e, m, f, r, d, o)
         ORDER BY t.o;
END
$$;

REVOKE EXECUTE ON FUNCTION chat_send_many(text[], text[], text[], text[], integer[], integer[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chat_send_many(text[], text[], text[], text[], integer[], integer[])
    TO chat_app;

-- The json answer, for bridges of the version before (their prepared
-- statement's column is json); in the requests' order.
CREATE OR REPLACE FUNCTION chat_send_batch(p_users text[], p_rooms text[], p_contents text[],
                                           p_client_ids text[], p_rates integer[],
                                           p_windows integer[])
RETURNS TABLE (err text, msg text, field text, retry integer, data json)
LANGUAGE sql SET jit = off SET plan_cache_mode = force_generic_plan AS $$
    SELECT b.err, b.msg, b.field, b.retry, b.data::json
      FROM chat_send_many(p_users, p_rooms, p_contents, p_client_ids, p_rates, p_windows)
           WITH ORDINALITY AS b(err, msg, field, retry, data, o)
     ORDER BY b.o;
$$;

-- A single send is a batch of one; its answer stays json.
CREATE OR REPLACE FUNCTION chat_send_message(p_user text, p_room text, p_content text,
                                             p_client_id text, p_rate integer, p_window integer,
                                             OUT err text, OUT msg text, OUT field text,
                                             OUT retry integer, OUT data json)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    SELECT b.err, b.msg, b.field, b.retry, b.data::json INTO err, msg, field, retry, data
      FROM chat_send_many(ARRAY[p_user], ARRAY[p_room], ARRAY[p_content], ARRAY[p_client_id],
                          ARRAY[p_rate], ARRAY[p_window]) b;
END
$$;

-- After INSERT INTO messages, once per statement: lock every distinct
-- referenced room and user FOR KEY SHARE (sorted: one order for every
-- inserter), then refuse a key that has no row. A row deleted by a
-- transaction that committed first is not locked (nor counted), so a
-- count short of the keys means a missing key, which is then looked up
-- (as 0027 did: a key that came back between the two passes).
CREATE OR REPLACE FUNCTION chat_messages_refs_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_rooms text[];
    v_users text[];
    locked  bigint;
    bad     text;
BEGIN
    SELECT array_agg(DISTINCT n.room_id), array_agg(DISTINCT n.user_id) FILTER (WHERE n.user_id IS NOT NULL)
      INTO v_rooms, v_users FROM new_rows n;
    PERFORM 1 FROM rooms r WHERE r.id = ANY (v_rooms) ORDER BY r.id FOR KEY SHARE;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked < coalesce(cardinality(v_rooms), 0) THEN
        SELECT x INTO bad FROM unnest(v_rooms) x
         WHERE NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = x) ORDER BY x LIMIT 1;
        IF FOUND THEN
            PERFORM chat_messages_fk_fail('room_id', bad);
        END IF;
    END IF;
    IF v_users IS NOT NULL THEN
        PERFORM 1 FROM users u WHERE u.id = ANY (v_users) ORDER BY u.id FOR KEY SHARE;
        GET DIAGNOSTICS locked = ROW_COUNT;
        IF locked < cardinality(v_users) THEN
            SELECT x INTO bad FROM unnest(v_users) x
             WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = x) ORDER BY x LIMIT 1;
            IF FOUND THEN
                PERFORM chat_messages_fk_fail('user_id', bad);
            END IF;
        END IF;
    END IF;
    RETURN NULL;
END
$$;
