-- 0020_site_admin.sql -- site bans, message tombstones, room deletion and the admin log (chatctl).
--
-- DESIGN.md sections 7 and 8, issue 13 item 5 (site administration without
-- psql). chatctl (the sysadmin's tool) calls the chat_admin_* functions
-- below; chat_message_delete and chat_room_delete take an actor so that the
-- REST and socket versions (issue 14) call the same functions with the
-- caller: chatctl passes NULL, acting as the site.
--
-- 1. users.banned_at (and banned_by, the OS user who banned, and an
--    optional ban_reason): a banned user cannot sign in by any path. Every
--    session is revoked (session_revoked per session, so the bridges close
--    those sockets) and user_banned {user_id} tells the bridges to close the
--    user's every socket, site-token ones included. POST /api/join,
--    /api/register and /api/login, a site token (chat_external_user) and
--    chat_auth refuse a banned user: 'forbidden'. A login is refused only
--    once the password matched, so a ban tells a guesser nothing.
-- 2. messages.content becomes nullable, with deleted_at: a deleted message
--    is a tombstone (content NULL exactly when deleted_at is set), its seq
--    kept, its text gone. The message JSON gains "deleted".
--    chat_message_delete sends message_deleted {room_id, id, seq, message}
--    under the room's row lock, the lock every send of the room takes, so
--    the NOTIFY is in the room's order (docs/notify.md).
-- 3. chat_room_delete: the members are removed (user_left and room_removed
--    with reason 'deleted'), then the room and everything of it.
-- 4. admin_log: one row per action chatctl carried out, in the action's
--    transaction (chat_admin_log).

ALTER TABLE users
    ADD COLUMN banned_at timestamptz,
    ADD COLUMN banned_by text
        CONSTRAINT users_banned_by_check CHECK (octet_length(banned_by) BETWEEN 1 AND 255),
    ADD COLUMN ban_reason text
        CONSTRAINT users_ban_reason_check CHECK (char_length(ban_reason) BETWEEN 1 AND 500),
    ADD CONSTRAINT users_banned_check
        CHECK (banned_at IS NOT NULL OR (banned_by IS NULL AND ban_reason IS NULL));

ALTER TABLE messages
    ALTER COLUMN content DROP NOT NULL,
    ADD COLUMN deleted_at timestamptz,
    ADD CONSTRAINT messages_deleted_check CHECK ((content IS NULL) = (deleted_at IS NOT NULL));

-- chat_app gets no UPDATE on messages and no DELETE on rooms: the services
-- may not rewrite or delete history by hand. chat_message_delete and
-- chat_room_delete run as their owner (SECURITY DEFINER), so the only
-- deletions are theirs, with their checks, tombstones and NOTIFYs.

CREATE TABLE admin_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    os_user text NOT NULL CHECK (octet_length(os_user) BETWEEN 1 AND 255),
    action  text NOT NULL CHECK (octet_length(action) BETWEEN 1 AND 64),
    target  text CHECK (octet_length(target) <= 1024),
    detail  json
);
GRANT SELECT, INSERT ON admin_log TO chat_app;
GRANT USAGE ON SEQUENCE admin_log_id_seq TO chat_app;

-- ---- messages: the tombstone ---------------------------------------------------

CREATE OR REPLACE FUNCTION chat_message_json(m messages) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', m.id,
        'room_id', m.room_id,
        'seq', m.seq,
        'user_id', m.user_id,
        'username', m.username,
        'content', m.content,
        'timestamp', chat_ts(m."timestamp"),
        'client_id', m.client_id,
        'deleted', m.deleted_at IS NOT NULL)
$$;

-- Deletes message p_id of p_room: its text is erased (content NULL), its
-- seq stays (no gap in history), and the room gets message_deleted. The
-- actor (NULL: the site, chatctl) must be the author, an owner or
-- moderator of the room, or a site administrator (chat_may_moderate):
-- not_found for a room they can neither see nor moderate or a message that
-- is not in it, forbidden otherwise. Deleting a tombstone again
-- changes nothing and says so (data.deleted false).
CREATE FUNCTION chat_message_delete(p_actor text, p_room text, p_id bigint,
                                    OUT err text, OUT msg text, OUT field text,
                                    OUT retry integer, OUT data json)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    m messages%ROWTYPE;
    mj json;
BEGIN
    IF p_actor IS NOT NULL AND NOT chat_room_visible(p_actor, p_room)
       AND NOT chat_may_moderate(p_actor, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    -- The lock of every send to the room: the NOTIFY goes in its order.
    PERFORM 1 FROM rooms r WHERE r.id = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    SELECT * INTO m FROM messages x WHERE x.id = p_id AND x.room_id = p_room FOR UPDATE;
    IF NOT FOUND THEN
        err := 'not_found'; msg := 'message not found'; field := 'id';
        RETURN;
    END IF;
    IF p_actor IS NOT NULL AND m.user_id IS DISTINCT FROM p_actor
       AND NOT chat_may_moderate(p_actor, p_room) THEN
        err := 'forbidden'; msg := 'only the author or a moderator may delete this message';
        field := 'id';
        RETURN;
    END IF;
    IF m.deleted_at IS NOT NULL THEN
        data := json_build_object('message', chat_message_json(m), 'deleted', false);
        RETURN;
    END IF;
    UPDATE messages SET content = NULL, deleted_at = now() WHERE id = m.id RETURNING * INTO m;
    mj := chat_message_json(m);
    PERFORM chat_notify(json_build_object('type', 'message_deleted', 'room_id', m.room_id,
                                          'id', m.id, 'seq', m.seq, 'message', mj));
    data := json_build_object('message', mj, 'deleted', true);
END
$$;

-- Deletes room p_room and everything of it: each member is removed first
-- (user_left and room_removed with reason 'deleted', so the bridges
-- unsubscribe their sockets), then its messages, memberships and bans go
-- with it. The actor (NULL: the site) must be its owner or a site
-- administrator; not_found for a room they cannot see.
CREATE FUNCTION chat_room_delete(p_actor text, p_room text,
                                 OUT err text, OUT msg text, OUT field text,
                                 OUT retry integer, OUT data json)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    uid text;
    n integer := 0;
    r rooms%ROWTYPE;
BEGIN
    IF p_actor IS NOT NULL AND NOT chat_room_visible(p_actor, p_room)
       AND NOT chat_may_moderate(p_actor, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    -- Sends (FOR NO KEY UPDATE) and new memberships (their key share) wait.
    SELECT * INTO r FROM rooms x WHERE x.id = p_room FOR UPDATE;
    IF NOT FOUND THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF p_actor IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM user_rooms ur WHERE ur.room_id = p_room
                          AND ur.user_id = p_actor AND ur.role = 'owner')
       AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p_actor AND u.site_admin) THEN
        err := 'forbidden'; msg := 'only the owner or a site administrator may delete the room';
        field := 'room_id';
        RETURN;
    END IF;
    FOR uid IN SELECT ur.user_id FROM user_rooms ur WHERE ur.room_id = p_room
                ORDER BY ur.user_id LOOP
        PERFORM chat_member_lock(p_room, uid);
        IF chat_member_remove(uid, p_room, 'deleted') THEN
            n := n + 1;
        END IF;
    END LOOP;
    DELETE FROM rooms WHERE id = p_room;
    data := json_build_object('room_id', p_room, 'name', r.name, 'visibility', r.visibility,
                              'removed_members', n, 'last_seq', r.last_seq);
END
$$;

-- ---- site bans -----------------------------------------------------------------

-- Why u (a row of users, possibly all NULL) may not sign in: a message
-- when banned, else NULL.
CREATE FUNCTION chat_user_ban_refusal(u users) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN u.banned_at IS NOT NULL
                THEN 'this user is banned from the site' END
$$;

-- Revokes every session of p_user: each is deleted and the bridges hear
-- session_revoked (as for a logout) to close its sockets. Returns how many.
CREATE FUNCTION chat_user_sessions_revoke(p_user text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    h bytea;
    n integer := 0;
BEGIN
    FOR h IN DELETE FROM sessions WHERE user_id = p_user RETURNING token_hash LOOP
        PERFORM chat_notify(json_build_object('type', 'session_revoked', 'user_id', p_user,
                                              'token_hash', encode(h, 'hex')));
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- As in 0002, and a banned user's session is no session.
CREATE OR REPLACE FUNCTION chat_auth(p_hash bytea, p_ttl integer,
                                     OUT user_id text, OUT username text)
RETURNS SETOF record
LANGUAGE plpgsql AS $$
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
    RETURN QUERY SELECT u.id, u.username FROM users u
                  WHERE u.id = s.user_id AND u.banned_at IS NULL;
END
$$;

-- As in 0019, and the name of a banned user is refused: forbidden.
CREATE OR REPLACE FUNCTION chat_join(p_username text, p_room text, p_hash bytea, p_ttl integer,
                                     p_caller text, p_addr text, p_rate integer, p_window integer,
                                     OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                     OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    w integer;
BEGIN
    IF p_room IS NOT NULL THEN
        SELECT e.err, e.msg, e.field INTO err, msg, field
          FROM chat_room_entry((SELECT x.id FROM users x WHERE lower(x.username) = lower(p_username)),
                               p_room) e;
        IF err IS NOT NULL THEN
            RETURN;
        END IF;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.user:' || lower(p_username), 0));
    SELECT * INTO u FROM users WHERE lower(username) = lower(p_username);
    IF FOUND THEN
        msg := chat_user_ban_refusal(u);
        IF msg IS NOT NULL THEN
            err := 'forbidden'; field := 'username';
            RETURN;
        END IF;
        IF u.registered AND u.id IS DISTINCT FROM p_caller THEN
            err := 'username_taken'; msg := 'username is registered: sign in with its password';
            field := 'username';
            RETURN;
        END IF;
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
    data := chat_session_open(u, p_room, p_hash, p_ttl);
END
$$;

-- As in 0017, and a banned user's name cannot be registered: forbidden.
CREATE OR REPLACE FUNCTION chat_register_refusal(u users, p_caller text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN u.id IS NULL THEN NULL
        WHEN u.banned_at IS NOT NULL THEN chat_user_ban_refusal(u)
        WHEN u.registered THEN 'username is already registered'
        WHEN u.id IS DISTINCT FROM p_caller AND EXISTS (
                 SELECT 1 FROM sessions s WHERE s.user_id = u.id AND s.expires_at > now())
            THEN 'username is in use by another session'
    END
$$;

-- The error code of chat_register_refusal's answer for u.
CREATE FUNCTION chat_register_refusal_code(u users) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN u.banned_at IS NOT NULL THEN 'forbidden' ELSE 'username_taken' END
$$;

-- As in 0019, with chat_register_refusal_code.
CREATE OR REPLACE FUNCTION chat_register_check(p_username text, p_room text, p_caller text,
                                               p_addr text, p_rate integer, p_window integer,
                                               OUT err text, OUT msg text, OUT field text,
                                               OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    w integer;
BEGIN
    IF p_room IS NOT NULL THEN
        SELECT e.err, e.msg, e.field INTO err, msg, field
          FROM chat_room_entry((SELECT x.id FROM users x WHERE lower(x.username) = lower(p_username)),
                               p_room) e;
        IF err IS NOT NULL THEN
            RETURN;
        END IF;
    END IF;
    SELECT * INTO u FROM users WHERE lower(username) = lower(p_username);
    msg := chat_register_refusal(u, p_caller);
    IF msg IS NOT NULL THEN
        err := chat_register_refusal_code(u); field := 'username';
        RETURN;
    END IF;
    IF u.id IS NULL AND p_addr IS NOT NULL THEN
        w := chat_rate_take('join_new:' || p_addr, p_rate, p_window);
        IF w > 0 THEN
            err := 'rate_limited'; msg := 'too many new names from this address, try again later';
            retry := w;
            RETURN;
        END IF;
    END IF;
    data := '{}'::json;
END
$$;

-- As in 0019, with chat_register_refusal_code.
CREATE OR REPLACE FUNCTION chat_register(p_username text, p_pw_hash text, p_room text,
                                         p_hash bytea, p_ttl integer, p_caller text,
                                         OUT err text, OUT msg text, OUT field text,
                                         OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
BEGIN
    IF p_room IS NOT NULL THEN
        SELECT e.err, e.msg, e.field INTO err, msg, field
          FROM chat_room_entry((SELECT x.id FROM users x WHERE lower(x.username) = lower(p_username)),
                               p_room) e;
        IF err IS NOT NULL THEN
            RETURN;
        END IF;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.user:' || lower(p_username), 0));
    SELECT * INTO u FROM users WHERE lower(username) = lower(p_username);
    msg := chat_register_refusal(u, p_caller);
    IF msg IS NOT NULL THEN
        err := chat_register_refusal_code(u); field := 'username';
        RETURN;
    END IF;
    IF u.id IS NULL THEN
        INSERT INTO users (username, last_seen, registered, password_hash)
        VALUES (p_username, now(), true, p_pw_hash) RETURNING * INTO u;
    ELSE
        DELETE FROM sessions WHERE user_id = u.id AND expires_at <= now();
        UPDATE users SET registered = true, password_hash = p_pw_hash, last_seen = now()
         WHERE id = u.id RETURNING * INTO u;
    END IF;
    data := chat_session_open(u, p_room, p_hash, p_ttl);
END
$$;

-- As in 0017, and a banned user is refused once the password matched
-- (forbidden): the ban is no answer to a wrong guess.
CREATE OR REPLACE FUNCTION chat_login(p_user text, p_pw_hash text, p_new_pw_hash text,
                                      p_hash bytea, p_ttl integer, p_username text, p_addr text,
                                      p_user_rate integer, p_addr_rate integer,
                                      OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                      OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
BEGIN
    UPDATE users SET last_seen = now(), password_hash = coalesce(p_new_pw_hash, password_hash)
     WHERE id = p_user AND password_hash = p_pw_hash RETURNING * INTO u;
    IF NOT FOUND THEN
        err := 'invalid_credentials'; msg := 'invalid username or password';
        RETURN;
    END IF;
    PERFORM chat_login_refund(p_username, p_addr, p_user_rate, p_addr_rate);
    msg := chat_user_ban_refusal(u);
    IF msg IS NOT NULL THEN
        err := 'forbidden';
        RETURN;
    END IF;
    DELETE FROM sessions WHERE user_id = u.id AND expires_at <= now();
    data := chat_session_open(u, NULL, p_hash, p_ttl);
    data := json_build_object('user', data->'user', 'rooms', data->'rooms');
END
$$;

-- As in 0018, and the user of a banned sub is refused: forbidden.
CREATE OR REPLACE FUNCTION chat_external_user(p_sub text, p_name text,
                                              OUT err text, OUT msg text, OUT field text,
                                              OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.external:' || p_sub, 0));
    SELECT * INTO u FROM users WHERE external_id = p_sub;
    msg := chat_user_ban_refusal(u);
    IF msg IS NOT NULL THEN
        err := 'forbidden';
        RETURN;
    END IF;
    IF u.id IS NOT NULL AND u.username = p_name THEN
        -- The common case writes only when last_seen is a minute old.
        IF u.last_seen IS NULL OR u.last_seen < now() - interval '60 seconds' THEN
            UPDATE users SET last_seen = now() WHERE id = u.id RETURNING * INTO u;
        END IF;
        data := chat_user_json(u);
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.user:' || lower(p_name), 0));
    IF EXISTS (SELECT 1 FROM users o
                WHERE lower(o.username) = lower(p_name) AND o.id IS DISTINCT FROM u.id) THEN
        err := 'username_taken'; msg := 'the name is held by another user';
        field := 'name';
        RETURN;
    END IF;
    IF u.id IS NULL THEN
        INSERT INTO users (username, last_seen, external_id, registered)
        VALUES (p_name, now(), p_sub, true) RETURNING * INTO u;
    ELSE
        UPDATE users SET username = p_name, last_seen = now(), registered = true
         WHERE id = u.id RETURNING * INTO u;
    END IF;
    data := chat_user_json(u);
END
$$;

-- ---- chatctl ---------------------------------------------------------------------

-- The user p_ref names: its id, else its username (any case). NULL row when none.
CREATE FUNCTION chat_admin_user(p_ref text) RETURNS users
LANGUAGE sql STABLE AS $$
    SELECT u FROM users u
     WHERE u.id = p_ref OR lower(u.username) = lower(p_ref)
     ORDER BY u.id = p_ref DESC LIMIT 1
$$;

-- Users whose username or id matches the LIKE pattern p_like (any case;
-- '%' and '_' the only special characters, no escape character; NULL:
-- all), by username, at most p_limit.
CREATE FUNCTION chat_admin_users(p_like text, p_limit integer)
RETURNS TABLE (id text, username text, registered boolean, site_admin boolean,
               banned boolean, rooms bigint, online boolean, last_seen text)
LANGUAGE sql STABLE AS $$
    SELECT u.id, u.username, u.registered, u.site_admin, u.banned_at IS NOT NULL,
           (SELECT count(*) FROM user_rooms ur WHERE ur.user_id = u.id),
           chat_user_online(u.id), chat_ts(u.last_seen)
      FROM users u
     WHERE p_like IS NULL OR u.username ILIKE p_like ESCAPE '' OR u.id ILIKE p_like ESCAPE ''
     ORDER BY lower(u.username) LIMIT p_limit
$$;

-- Rooms whose name or id matches the LIKE pattern p_like (any case; NULL:
-- all), by creation, at most p_limit. A direct room's name is its members'.
CREATE FUNCTION chat_admin_rooms(p_like text, p_limit integer)
RETURNS TABLE (id text, name text, visibility text, members bigint, messages bigint,
               created_at text)
LANGUAGE sql STABLE AS $$
    SELECT r.id,
           coalesce(r.name, (SELECT string_agg(u.username, ',' ORDER BY u.username)
                               FROM user_rooms ur JOIN users u ON u.id = ur.user_id
                              WHERE ur.room_id = r.id)),
           r.visibility,
           (SELECT count(*) FROM user_rooms ur WHERE ur.room_id = r.id),
           r.last_seq, chat_ts(r.created_at)
      FROM rooms r
     WHERE p_like IS NULL OR r.name ILIKE p_like ESCAPE '' OR r.id ILIKE p_like ESCAPE ''
     ORDER BY r.created_at, r.id LIMIT p_limit
$$;

-- Bans (p_ban) or unbans the user p_ref names. A ban revokes every
-- session and tells the bridges user_banned, which closes the user's every
-- socket (site-token ones have no session). The user's name locks are
-- taken as a sign-in takes them (chat.external, then chat.user), so no
-- sign-in crosses the ban. data {user, changed, revoked_sessions}.
CREATE FUNCTION chat_admin_ban(p_ref text, p_ban boolean, p_by text, p_reason text,
                               OUT err text, OUT msg text, OUT field text, OUT retry integer,
                               OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    n integer := 0;
    changed boolean;
BEGIN
    u := chat_admin_user(p_ref);
    IF u.id IS NULL THEN
        err := 'not_found'; msg := format('no user %L', p_ref); field := 'user';
        RETURN;
    END IF;
    IF u.external_id IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('chat.external:' || u.external_id, 0));
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.user:' || lower(u.username), 0));
    SELECT * INTO u FROM users WHERE id = u.id FOR UPDATE;
    changed := (u.banned_at IS NOT NULL) <> p_ban;
    IF p_ban THEN
        IF changed THEN
            UPDATE users SET banned_at = now(), banned_by = p_by, ban_reason = p_reason
             WHERE id = u.id RETURNING * INTO u;
        END IF;
        n := chat_user_sessions_revoke(u.id);
        PERFORM chat_notify(json_build_object('type', 'user_banned', 'user_id', u.id));
    ELSIF changed THEN
        UPDATE users SET banned_at = NULL, banned_by = NULL, ban_reason = NULL
         WHERE id = u.id RETURNING * INTO u;
    END IF;
    data := json_build_object('user', chat_user_json(u), 'changed', changed,
                              'revoked_sessions', n);
END
$$;

-- Revokes every session of the user p_ref names (the bridges close their
-- sockets). data {user, revoked_sessions}.
CREATE FUNCTION chat_admin_revoke(p_ref text,
                                  OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                  OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
BEGIN
    u := chat_admin_user(p_ref);
    IF u.id IS NULL THEN
        err := 'not_found'; msg := format('no user %L', p_ref); field := 'user';
        RETURN;
    END IF;
    data := json_build_object('user', chat_user_json(u),
                              'revoked_sessions', chat_user_sessions_revoke(u.id));
END
$$;

-- Sets the password of the user p_ref names to p_pw_hash (chatctl hashed
-- it as chat-fcgi does): the user becomes registered, and every session is
-- revoked. data {user, revoked_sessions}.
CREATE FUNCTION chat_admin_password(p_ref text, p_pw_hash text,
                                    OUT err text, OUT msg text, OUT field text,
                                    OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
BEGIN
    u := chat_admin_user(p_ref);
    IF u.id IS NULL THEN
        err := 'not_found'; msg := format('no user %L', p_ref); field := 'user';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.user:' || lower(u.username), 0));
    UPDATE users SET registered = true, password_hash = p_pw_hash
     WHERE id = u.id RETURNING * INTO u;
    data := json_build_object('user', chat_user_json(u),
                              'revoked_sessions', chat_user_sessions_revoke(u.id));
END
$$;

-- Makes the user p_ref names a site administrator (p_on) or not: they
-- moderate every room (chat_may_moderate). data {user, changed}.
CREATE FUNCTION chat_admin_site_admin(p_ref text, p_on boolean,
                                      OUT err text, OUT msg text, OUT field text,
                                      OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    changed boolean;
BEGIN
    u := chat_admin_user(p_ref);
    IF u.id IS NULL THEN
        err := 'not_found'; msg := format('no user %L', p_ref); field := 'user';
        RETURN;
    END IF;
    changed := u.site_admin <> p_on;
    UPDATE users SET site_admin = p_on WHERE id = u.id RETURNING * INTO u;
    data := json_build_object('user', chat_user_json(u), 'site_admin', p_on,
                              'changed', changed);
END
$$;

-- One row of admin_log: who (the OS user running chatctl) did what to
-- which target, with the action's answer as detail.
CREATE FUNCTION chat_admin_log(p_os_user text, p_action text, p_target text, p_detail json)
RETURNS bigint
LANGUAGE sql AS $$
    INSERT INTO admin_log (os_user, action, target, detail)
    VALUES (p_os_user, p_action, p_target, p_detail) RETURNING id
$$;
