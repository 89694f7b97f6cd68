-- 0002_functions.sql -- the chat operations, one function per operation.
--
-- Each operation runs in the caller's transaction and makes every change it
-- describes together with the pg_notify that tells the bridges about it.
-- Operations that can fail for a reason the client must hear return
-- (err, msg, field, retry, data): err is NULL and data holds the result on
-- success; otherwise err is an API error code (docs/api.md), msg a
-- human-readable message, field the offending field (or NULL) and retry the
-- seconds to wait for rate_limited. Failures return rather than raise so that
-- many operations can share one transaction (group commit) without one
-- refusal aborting the others; nothing is written before a refusal.
--
-- Output objects are built here once (chat_user_json, chat_room_json,
-- chat_message_json) so the REST API, the NOTIFY payloads and the bridge
-- all speak the same shapes.

CREATE FUNCTION chat_ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- Connections of bridges whose heartbeat is older than this no longer count.
-- The services set chat.presence_ttl (seconds) on their sessions.
CREATE FUNCTION chat_presence_cutoff() RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT now() - make_interval(secs =>
        coalesce(nullif(current_setting('chat.presence_ttl', true), '')::int, 30))
$$;

CREATE FUNCTION chat_user_online(p_user text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM presence p JOIN bridges b ON b.id = p.bridge_id
         WHERE p.user_id = p_user AND b.heartbeat_at > chat_presence_cutoff())
$$;

CREATE FUNCTION chat_user_json(u users) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', u.id,
        'username', u.username,
        'joined_at', chat_ts(u.joined_at),
        'last_seen', chat_ts(u.last_seen),
        'online', chat_user_online(u.id))
$$;

CREATE FUNCTION chat_room_json(r rooms) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', r.id,
        'name', r.name,
        'description', r.description,
        'created_at', chat_ts(r.created_at),
        'created_by', r.created_by,
        'member_count', (SELECT count(*) FROM user_rooms ur WHERE ur.room_id = r.id),
        'online_count', (SELECT count(DISTINCT ur.user_id)
                           FROM user_rooms ur
                           JOIN presence p ON p.user_id = ur.user_id
                           JOIN bridges b ON b.id = p.bridge_id
                          WHERE ur.room_id = r.id
                            AND b.heartbeat_at > chat_presence_cutoff()),
        'last_seq', r.last_seq)
$$;

CREATE FUNCTION chat_message_json(m messages) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', m.id,
        'room_id', m.room_id,
        'seq', m.seq,
        'user_id', m.user_id,
        'username', m.username,
        'content', m.content,
        'timestamp', chat_ts(m."timestamp"),
        'client_id', m.client_id)
$$;

-- Rooms in creation order, one page, as a JSON array.
CREATE FUNCTION chat_rooms_json(p_limit integer, p_offset integer) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg(chat_room_json(x.r) ORDER BY (x.r).created_at, (x.r).id), '[]'::json)
      FROM (SELECT r FROM rooms r ORDER BY r.created_at, r.id
             LIMIT p_limit OFFSET p_offset) x
$$;

-- Rooms the user is a member of, in the order they were joined.
CREATE FUNCTION chat_member_rooms_json(p_user text) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg(chat_room_json(r) ORDER BY ur.joined_at, r.id), '[]'::json)
      FROM user_rooms ur JOIN rooms r ON r.id = ur.room_id
     WHERE ur.user_id = p_user
$$;

CREATE FUNCTION chat_notify(p_payload json) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_notify('chat_events', p_payload::text)
$$;

-- Token bucket shared by every process: p_capacity tokens, refilled at
-- p_capacity per p_window seconds. Returns 0 and takes a token when one is
-- available, otherwise the whole seconds until one is (at least 1).
-- A capacity of 0 or less disables the limit.
CREATE FUNCTION chat_rate_take(p_key text, p_capacity integer, p_window integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    ts   timestamptz := clock_timestamp();
    rate double precision;
    cur  rate_buckets%ROWTYPE;
    have double precision;
BEGIN
    IF p_capacity <= 0 OR p_window <= 0 THEN
        RETURN 0;
    END IF;
    rate := p_capacity::double precision / p_window;
    INSERT INTO rate_buckets AS b (key, tokens, updated_at)
    VALUES (p_key, p_capacity - 1, ts)
    ON CONFLICT (key) DO UPDATE
       SET tokens = least(p_capacity::double precision,
                          b.tokens + greatest(0, extract(epoch FROM ts - b.updated_at)) * rate) - 1,
           updated_at = ts
     WHERE least(p_capacity::double precision,
                 b.tokens + greatest(0, extract(epoch FROM ts - b.updated_at)) * rate) >= 1;
    IF FOUND THEN
        RETURN 0;
    END IF;
    SELECT * INTO cur FROM rate_buckets WHERE key = p_key;
    have := least(p_capacity::double precision,
                  cur.tokens + greatest(0, extract(epoch FROM ts - cur.updated_at)) * rate);
    RETURN greatest(1, ceil((1 - have) / rate))::integer;
END
$$;

-- Adds a membership; tells the room when it is new. Returns whether it was.
CREATE FUNCTION chat_member_add(p_user text, p_room text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
BEGIN
    INSERT INTO user_rooms (user_id, room_id) VALUES (p_user, p_room)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT * INTO u FROM users WHERE id = p_user;
    PERFORM chat_notify(json_build_object(
        'type', 'user_joined', 'room_id', p_room, 'user', chat_user_json(u),
        'member_count', (SELECT count(*) FROM user_rooms WHERE room_id = p_room)));
    RETURN true;
END
$$;

-- Removes a membership; tells the room when there was one.
CREATE FUNCTION chat_member_remove(p_user text, p_room text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
BEGIN
    DELETE FROM user_rooms WHERE user_id = p_user AND room_id = p_room;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT * INTO u FROM users WHERE id = p_user;
    PERFORM chat_notify(json_build_object(
        'type', 'user_left', 'room_id', p_room, 'user', chat_user_json(u),
        'member_count', (SELECT count(*) FROM user_rooms WHERE room_id = p_room)));
    RETURN true;
END
$$;

-- Resolves a session token hash to its user. Sliding expiry: a session used
-- in the last minute of a fresh TTL is not rewritten, so reads stay reads.
CREATE FUNCTION chat_auth(p_hash bytea, p_ttl integer,
                          OUT user_id text, OUT username text)
RETURNS SETOF record LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s sessions%ROWTYPE;
BEGIN
    SELECT * INTO s FROM sessions WHERE token_hash = p_hash AND expires_at > now();
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF s.expires_at < now() + make_interval(secs => p_ttl) - interval '60 seconds' THEN
        UPDATE sessions SET expires_at = now() + make_interval(secs => p_ttl)
         WHERE token_hash = p_hash;
        UPDATE users SET last_seen = now() WHERE id = s.user_id;
    END IF;
    RETURN QUERY SELECT u.id, u.username FROM users u WHERE u.id = s.user_id;
END
$$;

-- POST /api/join. A name is held while a live (unexpired) session of its
-- user exists; the holder itself (p_caller) may join again.
CREATE FUNCTION chat_join(p_username text, p_room text, p_hash bytea, p_ttl integer,
                          p_caller text, p_addr text, p_rate integer, p_window integer,
                          OUT err text, OUT msg text, OUT field text, OUT retry integer,
                          OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    r rooms%ROWTYPE;
    w integer;
BEGIN
    IF p_addr IS NOT NULL THEN
        w := chat_rate_take('join:' || p_addr, p_rate, p_window);
        IF w > 0 THEN
            err := 'rate_limited'; msg := 'too many joins from this address'; retry := w;
            RETURN;
        END IF;
    END IF;
    IF p_room IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rooms WHERE id = p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.user:' || lower(p_username), 0));
    SELECT * INTO u FROM users WHERE lower(username) = lower(p_username);
    IF FOUND THEN
        IF u.id IS DISTINCT FROM p_caller AND EXISTS (
               SELECT 1 FROM sessions s WHERE s.user_id = u.id AND s.expires_at > now()) THEN
            err := 'username_taken'; msg := 'username is in use by another session';
            field := 'username';
            RETURN;
        END IF;
        DELETE FROM sessions WHERE user_id = u.id AND expires_at <= now();
        UPDATE users SET last_seen = now() WHERE id = u.id RETURNING * INTO u;
    ELSE
        INSERT INTO users (username, last_seen) VALUES (p_username, now()) RETURNING * INTO u;
    END IF;
    INSERT INTO sessions (token_hash, user_id, expires_at)
    VALUES (p_hash, u.id, now() + make_interval(secs => p_ttl));
    IF p_room IS NOT NULL THEN
        PERFORM chat_member_add(u.id, p_room);
        SELECT * INTO r FROM rooms WHERE id = p_room;
    END IF;
    data := json_build_object(
        'user', chat_user_json(u),
        'rooms', chat_rooms_json(50, 0),
        'room', CASE WHEN p_room IS NULL THEN NULL ELSE chat_room_json(r) END);
END
$$;

CREATE FUNCTION chat_logout(p_hash bytea,
                            OUT err text, OUT msg text, OUT field text, OUT retry integer,
                            OUT data json)
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM sessions WHERE token_hash = p_hash;
    data := json_build_object('logged_out', FOUND);
END
$$;

CREATE FUNCTION chat_me(p_user text,
                        OUT err text, OUT msg text, OUT field text, OUT retry integer,
                        OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
BEGIN
    SELECT * INTO u FROM users WHERE id = p_user;
    IF NOT FOUND THEN
        err := 'unauthorized'; msg := 'user no longer exists';
        RETURN;
    END IF;
    data := json_build_object('user', chat_user_json(u), 'rooms', chat_member_rooms_json(p_user));
END
$$;

CREATE FUNCTION chat_rooms_list(p_limit integer, p_offset integer,
                                OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                OUT data json)
LANGUAGE plpgsql AS $$
BEGIN
    data := json_build_object('rooms', chat_rooms_json(p_limit, p_offset),
                              'total', (SELECT count(*) FROM rooms));
END
$$;

CREATE FUNCTION chat_room_get(p_room text,
                              OUT err text, OUT msg text, OUT field text, OUT retry integer,
                              OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    r rooms%ROWTYPE;
BEGIN
    SELECT * INTO r FROM rooms WHERE id = p_room;
    IF NOT FOUND THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    data := json_build_object('room', chat_room_json(r));
END
$$;

-- POST /api/rooms: case-insensitive unique name; the creator becomes a member.
CREATE FUNCTION chat_room_create(p_user text, p_name text, p_description text,
                                 OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                 OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    r  rooms%ROWTYPE;
    rj json;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.room:' || lower(p_name), 0));
    IF EXISTS (SELECT 1 FROM rooms WHERE lower(name) = lower(p_name)) THEN
        err := 'room_exists'; msg := 'a room with this name already exists';
        field := 'room_name';
        RETURN;
    END IF;
    INSERT INTO rooms (name, description, created_by)
    VALUES (p_name, p_description, p_user) RETURNING * INTO r;
    INSERT INTO user_rooms (user_id, room_id) VALUES (p_user, r.id);
    rj := chat_room_json(r);
    PERFORM chat_notify(json_build_object('type', 'room_created', 'room', rj));
    data := json_build_object('room', rj);
END
$$;

-- History page. With p_after: the p_limit oldest messages after it (and
-- before p_before, if given), has_more = newer ones remain. Otherwise the
-- p_limit newest messages before p_before (or the end), has_more = older
-- ones remain. Messages are always ascending by seq.
CREATE FUNCTION chat_messages_page(p_room text, p_limit integer, p_before bigint, p_after bigint,
                                   OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                   OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    arr  json;
    edge bigint;
    more boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rooms WHERE id = p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF p_after IS NOT NULL THEN
        SELECT coalesce(json_agg(chat_message_json(x.m) ORDER BY (x.m).seq), '[]'::json),
               max((x.m).seq)
          INTO arr, edge
          FROM (SELECT m FROM messages m
                 WHERE m.room_id = p_room AND m.seq > p_after
                   AND (p_before IS NULL OR m.seq < p_before)
                 ORDER BY m.seq LIMIT p_limit) x;
        more := edge IS NOT NULL AND EXISTS (
            SELECT 1 FROM messages m WHERE m.room_id = p_room AND m.seq > edge
               AND (p_before IS NULL OR m.seq < p_before));
    ELSE
        SELECT coalesce(json_agg(chat_message_json(x.m) ORDER BY (x.m).seq), '[]'::json),
               min((x.m).seq)
          INTO arr, edge
          FROM (SELECT m FROM messages m
                 WHERE m.room_id = p_room AND (p_before IS NULL OR m.seq < p_before)
                 ORDER BY m.seq DESC LIMIT p_limit) x;
        more := edge IS NOT NULL AND EXISTS (
            SELECT 1 FROM messages m WHERE m.room_id = p_room AND m.seq < edge);
    END IF;
    data := json_build_object('messages', arr, 'has_more', more);
END
$$;

-- Stores one message. The room row lock taken by the last_seq update is
-- held until commit, so seq follows commit order and a rollback leaves no
-- gap. A client_id already used by the user returns the stored message
-- (duplicate = true) when it matches, and conflict when it does not.
-- The NOTIFY carries the whole message when it fits in PostgreSQL's
-- payload limit, otherwise only (room_id, seq) for the bridge to read back.
CREATE FUNCTION chat_send_message(p_user text, p_room text, p_content text, p_client_id text,
                                  p_rate integer, p_window integer,
                                  OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                  OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    m       messages%ROWTYPE;
    uname   text;
    next    bigint;
    w       integer;
    mj      json;
    payload json;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rooms WHERE id = p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM user_rooms WHERE user_id = p_user AND room_id = p_room) THEN
        err := 'forbidden'; msg := 'join the room before sending to it'; field := 'room_id';
        RETURN;
    END IF;
    IF p_client_id IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(
            hashtextextended('chat.client:' || p_user || ':' || p_client_id, 0));
        SELECT * INTO m FROM messages WHERE user_id = p_user AND client_id = p_client_id;
        IF FOUND THEN
            IF m.room_id <> p_room OR m.content <> p_content THEN
                err := 'conflict'; msg := 'client_id was already used for another message';
                field := 'client_id';
                RETURN;
            END IF;
            data := json_build_object('message', chat_message_json(m), 'duplicate', true);
            RETURN;
        END IF;
    END IF;
    w := chat_rate_take('msg:' || p_user, p_rate, p_window);
    IF w > 0 THEN
        err := 'rate_limited'; msg := 'too many messages, slow down'; retry := w;
        RETURN;
    END IF;
    SELECT username INTO uname FROM users WHERE id = p_user;
    UPDATE rooms SET last_seq = last_seq + 1 WHERE id = p_room RETURNING last_seq INTO next;
    INSERT INTO messages (room_id, seq, user_id, username, content, "timestamp", client_id)
    VALUES (p_room, next, p_user, uname, p_content, clock_timestamp(), p_client_id)
    RETURNING * INTO m;
    mj := chat_message_json(m);
    payload := json_build_object('type', 'new_message', 'room_id', p_room, 'seq', m.seq,
                                 'message', mj);
    IF octet_length(payload::text) > 7900 THEN
        payload := json_build_object('type', 'new_message', 'room_id', p_room, 'seq', m.seq);
    END IF;
    PERFORM chat_notify(payload);
    data := json_build_object('message', mj, 'duplicate', false);
END
$$;

CREATE FUNCTION chat_room_users(p_room text,
                                OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                OUT data json)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rooms WHERE id = p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    SELECT json_build_object('users', coalesce(json_agg(
               (chat_user_json(u)::jsonb || jsonb_build_object('room_joined_at', chat_ts(ur.joined_at)))
               ORDER BY ur.joined_at, u.id), '[]'::json))
      INTO data
      FROM user_rooms ur JOIN users u ON u.id = ur.user_id
     WHERE ur.room_id = p_room;
END
$$;
