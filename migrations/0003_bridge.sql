-- 0003_bridge.sql -- operations of the WebSocket bridge (chat-ws): presence,
-- room entry with recovery, leaving, typing, and reading back messages.
--
-- Same conventions as 0002: (err, msg, field, retry, data) results, the
-- change and its pg_notify in one transaction.

-- The rooms a user belongs to, as a JSON array of ids.
CREATE FUNCTION chat_user_room_ids(p_user text) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg(room_id ORDER BY room_id), '[]'::json)
      FROM user_rooms WHERE user_id = p_user
$$;

-- Tells the user's rooms that the user went online or offline. The room
-- list travels in the payload when it fits; otherwise the bridges read it
-- back (payload without "rooms").
CREATE FUNCTION chat_notify_status(p_user text, p_status text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    payload json;
BEGIN
    SELECT * INTO u FROM users WHERE id = p_user;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    payload := json_build_object('type', 'user_status', 'user_id', u.id, 'username', u.username,
                                 'status', p_status, 'last_seen', chat_ts(u.last_seen),
                                 'rooms', chat_user_room_ids(p_user));
    IF octet_length(payload::text) > 7900 THEN
        payload := json_build_object('type', 'user_status', 'user_id', u.id,
                                     'username', u.username, 'status', p_status,
                                     'last_seen', chat_ts(u.last_seen));
    END IF;
    PERFORM chat_notify(payload);
END
$$;

-- A bridge says it is alive. Called at start and every few seconds.
-- Returns true when the bridge row had to be created: at start, or after
-- other bridges reaped this one (its connections' rows went with it and the
-- bridge must register them again).
CREATE FUNCTION chat_bridge_heartbeat(p_bridge text) RETURNS boolean
LANGUAGE sql AS $$
    INSERT INTO bridges (id) VALUES (p_bridge)
    ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()
    RETURNING (xmax = 0)
$$;

-- Removes bridges (and so their connections) and tells the rooms of every
-- user left without a live connection that the user went offline.
-- p_bridge NULL reaps every bridge silent for longer than the presence TTL
-- (a bridge killed without cleaning up); otherwise removes that bridge
-- (graceful shutdown). Returns how many users went offline.
CREATE FUNCTION chat_bridge_remove(p_bridge text) RETURNS integer
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
    SELECT array_agg(DISTINCT p.user_id) INTO uids
      FROM presence p JOIN gone g ON g.id = p.bridge_id;
    -- The presence rows of the removed bridges went with them (cascade).
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

-- A connection of p_user opened on p_bridge. Tells the user's rooms when
-- this is the user's first live connection anywhere. Returns whether it was.
CREATE FUNCTION chat_presence_open(p_bridge text, p_conn text, p_user text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    first boolean;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.presence:' || p_user, 0));
    INSERT INTO bridges (id) VALUES (p_bridge) ON CONFLICT (id) DO NOTHING;
    first := NOT chat_user_online(p_user);
    INSERT INTO presence (bridge_id, conn_id, user_id) VALUES (p_bridge, p_conn, p_user)
    ON CONFLICT (bridge_id, conn_id) DO UPDATE SET user_id = EXCLUDED.user_id;
    UPDATE users SET last_seen = now() WHERE id = p_user;
    IF first THEN
        PERFORM chat_notify_status(p_user, 'online');
    END IF;
    RETURN first;
END
$$;

-- A connection closed (after the bridge's grace period). Tells the user's
-- rooms when it was the user's last live connection. Returns whether it was.
CREATE FUNCTION chat_presence_close(p_bridge text, p_conn text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    uid text;
BEGIN
    SELECT user_id INTO uid FROM presence WHERE bridge_id = p_bridge AND conn_id = p_conn;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.presence:' || uid, 0));
    DELETE FROM presence WHERE bridge_id = p_bridge AND conn_id = p_conn;
    UPDATE users SET last_seen = now() WHERE id = uid;
    IF chat_user_online(uid) THEN
        RETURN false;
    END IF;
    PERFORM chat_notify_status(uid, 'offline');
    RETURN true;
END
$$;

-- join_room: membership (user_joined when new), the room, its members, and
-- either the newest p_limit messages or, with p_since, every message after
-- it when at most p_recovery_max were missed (recovered = true); when more
-- were missed the newest page comes instead and recovered = false.
CREATE FUNCTION chat_room_enter(p_user text, p_room text, p_since bigint, p_limit integer,
                                p_recovery_max integer,
                                OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    r         rooms%ROWTYPE;
    arr       json;
    recovered boolean := NULL;
    members   json;
BEGIN
    SELECT * INTO r FROM rooms WHERE id = p_room;
    IF NOT FOUND THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    PERFORM chat_member_add(p_user, p_room);
    -- Read last_seq again: the snapshot of this statement decides which
    -- messages the ack holds; everything after it arrives live.
    SELECT * INTO r FROM rooms WHERE id = p_room;
    IF p_since IS NOT NULL THEN
        recovered := r.last_seq - least(p_since, r.last_seq) <= p_recovery_max;
    END IF;
    -- Both are pages of chat_messages_page (0002): every message after
    -- since_seq, or the newest p_limit.
    IF recovered THEN
        SELECT p.data->'messages' INTO arr
          FROM chat_messages_page(p_room, greatest(p_recovery_max, 1), NULL, p_since) p;
    ELSE
        SELECT p.data->'messages' INTO arr
          FROM chat_messages_page(p_room, p_limit, NULL, NULL) p;
    END IF;
    SELECT coalesce(json_agg(chat_user_json(u) ORDER BY ur.joined_at, u.id), '[]'::json)
      INTO members
      FROM user_rooms ur JOIN users u ON u.id = ur.user_id
     WHERE ur.room_id = p_room;
    data := json_build_object('room', chat_room_json(r), 'members', members,
                              'messages', arr, 'recovered', recovered);
END
$$;

-- leave_room: the membership goes (user_left when there was one).
CREATE FUNCTION chat_room_leave(p_user text, p_room text,
                                OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                OUT data json)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rooms WHERE id = p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    data := json_build_object('room_id', p_room, 'left', chat_member_remove(p_user, p_room));
END
$$;

-- typing: members only; nothing stored, one NOTIFY.
CREATE FUNCTION chat_typing(p_user text, p_room text, p_is_typing boolean,
                            OUT err text, OUT msg text, OUT field text, OUT retry integer,
                            OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    uname text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rooms WHERE id = p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM user_rooms WHERE user_id = p_user AND room_id = p_room) THEN
        err := 'forbidden'; msg := 'join the room first'; field := 'room_id';
        RETURN;
    END IF;
    SELECT username INTO uname FROM users WHERE id = p_user;
    data := json_build_object('room_id', p_room, 'user_id', p_user, 'username', uname,
                              'is_typing', p_is_typing);
    PERFORM chat_notify(json_build_object('type', 'typing', 'room_id', p_room,
                                          'user_id', p_user, 'username', uname,
                                          'is_typing', p_is_typing));
END
$$;

-- The Socket.IO CONNECT: resolves the session, registers the connection's
-- presence (user_status online when it is the first), and returns what the
-- `connected` event carries: {user, rooms} with rooms = memberships.
CREATE FUNCTION chat_connect(p_hash bytea, p_ttl integer, p_bridge text, p_conn text,
                             OUT err text, OUT msg text, OUT field text, OUT retry integer,
                             OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    uid text;
    u   users%ROWTYPE;
BEGIN
    SELECT a.user_id INTO uid FROM chat_auth(p_hash, p_ttl) a;
    IF uid IS NULL THEN
        err := 'unauthorized'; msg := 'the session is invalid or has expired';
        RETURN;
    END IF;
    PERFORM chat_presence_open(p_bridge, p_conn, uid);
    SELECT * INTO u FROM users WHERE id = uid;
    data := json_build_object('user', chat_user_json(u), 'rooms', chat_member_rooms_json(uid));
END
$$;

-- Messages of a room with after < seq <= upto, oldest first, at most p_limit:
-- how a bridge fills a gap or reads back a message too large for NOTIFY.
CREATE FUNCTION chat_messages_range(p_room text, p_after bigint, p_upto bigint, p_limit integer)
RETURNS TABLE (seq bigint, message json)
LANGUAGE sql STABLE AS $$
    SELECT m.seq, chat_message_json(m) FROM messages m
     WHERE m.room_id = p_room AND m.seq > p_after AND m.seq <= p_upto
     ORDER BY m.seq LIMIT p_limit
$$;
