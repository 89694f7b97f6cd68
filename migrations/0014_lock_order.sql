-- 0014_lock_order.sql -- one lock order for sends and CONNECTs; only the
-- services may connect.
--
-- chat_send_batch (0009) took its locks as its requests came: request i's
-- client_id lock, rate bucket and room row, then request i+1's. Two
-- transactions with the same rooms or senders in the opposite order (two
-- bridges' batches [u1->R1, u2->R2] and [u3->R2, u4->R1], or a REST send
-- against a batch) waited for each other until PostgreSQL aborted one:
-- every sender in it got an error. Now every lock the batch will need is
-- taken first, each kind in one order (sorted): the client_id locks, then
-- the rooms' rows, then the senders' rate-bucket locks. Two batches meet on
-- the first lock they share, and the later one waits for the earlier one
-- to commit while holding nothing the earlier one still needs.
--
-- chat_connect_batch (0011) resolved the sessions through chat_auth, which
-- may write the user's row (sliding expiry), before it took the users'
-- presence locks; chat_presence_close_many takes the presence locks, then
-- writes the users' rows. Now the sessions are read without writing, the
-- presence locks are taken (sorted), and the writes follow user by user in
-- the same order; the session is checked again under the lock, so a logout
-- committed in between is seen.
--
-- The bridges and the REST workers still retry a transaction PostgreSQL
-- aborted as a deadlock or serialization failure (40P01, 40001).

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
BEGIN
    IF cardinality(p_rooms) IS DISTINCT FROM n OR cardinality(p_contents) IS DISTINCT FROM n
       OR cardinality(p_client_ids) IS DISTINCT FROM n OR cardinality(p_rates) IS DISTINCT FROM n
       OR cardinality(p_windows) IS DISTINCT FROM n THEN
        RAISE EXCEPTION 'chat_send_batch: arrays of different lengths';
    END IF;
    -- Every lock first, in the global order (see the top of this file).
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
            IF NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = p_rooms[i]) THEN
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
END
$$;

CREATE OR REPLACE FUNCTION chat_connect_batch(p_hashes bytea[], p_ttls integer[],
                                              p_bridges text[], p_conns text[])
RETURNS TABLE (err text, msg text, field text, retry integer, data json)
LANGUAGE plpgsql AS $$
DECLARE
    n     integer := coalesce(cardinality(p_hashes), 0);
    uids  text[] := '{}';
    datas json[] := '{}';
    uid   text;
    j     integer;
    u     users%ROWTYPE;
BEGIN
    IF cardinality(p_ttls) IS DISTINCT FROM n OR cardinality(p_bridges) IS DISTINCT FROM n
       OR cardinality(p_conns) IS DISTINCT FROM n THEN
        RAISE EXCEPTION 'chat_connect_batch: arrays of different lengths';
    END IF;
    -- Who: nothing is written before the locks.
    FOR i IN 1 .. n LOOP
        uid := NULL;
        SELECT s.user_id INTO uid FROM sessions s
         WHERE s.token_hash = p_hashes[i] AND s.expires_at > now();
        uids := uids || uid;
        datas := datas || NULL::json;
    END LOOP;
    FOR uid IN SELECT DISTINCT x FROM unnest(uids) x WHERE x IS NOT NULL ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended('chat.presence:' || uid, 0));
    END LOOP;
    -- The writes, user by user in the order of the locks.
    FOR j IN SELECT o.i FROM unnest(uids) WITH ORDINALITY AS o(uid, i)
              WHERE o.uid IS NOT NULL ORDER BY o.uid, o.i LOOP
        uid := NULL;
        SELECT a.user_id INTO uid FROM chat_auth(p_hashes[j], p_ttls[j]) a;
        IF uid IS DISTINCT FROM uids[j] THEN
            uids[j] := NULL; -- logged out meanwhile
            CONTINUE;
        END IF;
        PERFORM chat_presence_open(p_bridges[j], p_conns[j], uid);
        SELECT * INTO u FROM users WHERE id = uid;
        datas[j] := json_build_object('user', chat_user_json(u),
                                      'rooms', chat_member_rooms_json(uid));
    END LOOP;
    FOR i IN 1 .. n LOOP
        err := NULL; msg := NULL; field := NULL; retry := NULL; data := NULL;
        IF uids[i] IS NULL THEN
            err := 'unauthorized'; msg := 'the session is invalid or has expired';
        ELSE
            data := datas[i];
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

-- The users' rows in one order here too (array_agg(DISTINCT) sorts, but
-- does not promise to).
CREATE OR REPLACE FUNCTION chat_bridge_remove(p_bridge text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    uids text[];
    uid  text;
    n    integer := 0;
BEGIN
    WITH gone AS (
        DELETE FROM bridges b
         WHERE (p_bridge IS NULL AND b.heartbeat_at <= chat_presence_cutoff())
            OR b.id = p_bridge
        RETURNING b.id)
    SELECT array_agg(DISTINCT p.user_id ORDER BY p.user_id) INTO uids
      FROM presence p JOIN gone g ON g.id = p.bridge_id;
    FOREACH uid IN ARRAY coalesce(uids, '{}'::text[]) LOOP
        IF NOT chat_user_online(uid) THEN
            UPDATE users SET last_seen = now() WHERE id = uid;
            PERFORM chat_notify_status(uid, 'offline');
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;

-- Only the services reach the database, and so the chat_events channel:
-- any role that can connect may NOTIFY it, and the bridges trust what
-- arrives there (docs/security.md). PUBLIC loses CONNECT and TEMPORARY;
-- chat_app (the services' group, 0005) and the role running the
-- migrations keep CONNECT. The database's name comes from
-- current_database(). Changing a database's privileges takes its owner
-- (or a superuser); otherwise this says so and an administrator runs the
-- statements of docs/deploy.md.
DO $$
DECLARE
    db text := current_database();
BEGIN
    IF EXISTS (SELECT 1 FROM pg_database d
                WHERE d.datname = db AND pg_has_role(current_user, d.datdba, 'MEMBER'))
       OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', db);
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO chat_app', db);
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', db, current_user);
    ELSE
        RAISE WARNING 'cannot restrict CONNECT on database %: % does not own it; run as its owner: REVOKE CONNECT, TEMPORARY ON DATABASE % FROM PUBLIC; GRANT CONNECT ON DATABASE % TO chat_app',
            db, current_user, quote_ident(db), quote_ident(db);
    END IF;
END
$$;
