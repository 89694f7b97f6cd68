-- 0012_create_limits.sql -- limit what abuse needs, not what people do.
--
-- Joins: the per-address bucket counted every POST /api/join, so a class or
-- an office behind one NAT address was refused after a few sign-ins. What a
-- flood from one address needs is many NEW names; a returning user signing
-- in again under an existing name costs a session row and nothing else.
-- chat_join now takes a token from the bucket 'join_new:<address>' only when
-- it is about to create a user (p_rate/p_window are CHAT_JOIN_RATE and
-- CHAT_JOIN_RATE_WINDOW); refusals (username_taken, not_found) and
-- returning users take none.
--
-- Rooms: every room_created goes to every connection, so unlimited room
-- creation is a fan-out amplifier. chat_room_create takes a token from
-- 'room:<user>' (CHAT_ROOM_CREATE_RATE per CHAT_ROOM_CREATE_WINDOW) once the
-- name is known to be free, so room_exists costs nothing. The buckets are
-- rows of rate_buckets, shared by every worker.

CREATE OR REPLACE FUNCTION chat_join(p_username text, p_room text, p_hash bytea, p_ttl integer,
                                     p_caller text, p_addr text, p_rate integer, p_window integer,
                                     OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                     OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    r rooms%ROWTYPE;
    w integer;
BEGIN
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
        IF p_addr IS NOT NULL THEN
            w := chat_rate_take('join_new:' || p_addr, p_rate, p_window);
            IF w > 0 THEN
                err := 'rate_limited'; msg := 'too many new names from this address, try again later';
                retry := w;
                RETURN;
            END IF;
        END IF;
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

-- POST /api/rooms: case-insensitive unique name; the creator becomes a
-- member; at most p_rate rooms per p_window seconds per user.
CREATE FUNCTION chat_room_create(p_user text, p_name text, p_description text,
                                 p_rate integer, p_window integer,
                                 OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                 OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    r  rooms%ROWTYPE;
    rj json;
    w  integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.room:' || lower(p_name), 0));
    IF EXISTS (SELECT 1 FROM rooms WHERE lower(name) = lower(p_name)) THEN
        err := 'room_exists'; msg := 'a room with this name already exists';
        field := 'room_name';
        RETURN;
    END IF;
    w := chat_rate_take('room:' || p_user, p_rate, p_window);
    IF w > 0 THEN
        err := 'rate_limited'; msg := 'too many rooms created, try again later'; retry := w;
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

-- The three-argument form of 0002, for a chat-fcgi still running while this
-- migration lands: the default limit (5 per 60 s), never none.
CREATE OR REPLACE FUNCTION chat_room_create(p_user text, p_name text, p_description text,
                                            OUT err text, OUT msg text, OUT field text,
                                            OUT retry integer, OUT data json)
LANGUAGE sql AS $$
    SELECT * FROM chat_room_create(p_user, p_name, p_description, 5, 60)
$$;

REVOKE EXECUTE ON FUNCTION chat_room_create(text, text, text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION chat_room_create(text, text, text, integer, integer) TO chat_app;
