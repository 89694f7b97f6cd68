-- 0017_accounts.sql -- registered accounts: passwords, sign-in, and names guests cannot take.
--
-- DESIGN.md section 7. A user is a guest (POST /api/join, the seeds'
-- model: whoever holds no live session of a name may take it) or
-- registered (users.registered): a registered name is never handed to a
-- guest. password_hash is libsodium's crypto_pwhash_str encoding
-- ($argon2id$v=19$m=...,t=...,p=1$salt$hash); chat-fcgi computes and
-- checks it (the database never sees a password). A registered user may
-- have no password (a site's JWT user, migration 0018), a guest never has
-- one.
--
-- Failed sign-ins are limited per username and per client address with
-- the rate buckets of chat_rate_take: 'login_user:<lower(name)>' and
-- 'login_addr:<address key>'. Every attempt takes a token from both
-- before its password is checked (so concurrent guesses cannot overrun
-- the limit), and a successful one gives its tokens back
-- (chat_rate_give): only failures add up. An unknown name takes tokens
-- like a known one, so a 429 says nothing about whether the name exists.

ALTER TABLE users
    ADD COLUMN registered boolean NOT NULL DEFAULT false,
    ADD COLUMN password_hash text,
    ADD CONSTRAINT users_password_registered_check
        CHECK (password_hash IS NULL OR (registered AND octet_length(password_hash) <= 255));

-- The User object gains "registered" (every path that shows a user builds
-- it here).
CREATE OR REPLACE FUNCTION chat_user_json(u users) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', u.id,
        'username', u.username,
        'joined_at', chat_ts(u.joined_at),
        'last_seen', chat_ts(u.last_seen),
        'online', chat_user_online(u.id),
        'registered', u.registered)
$$;

-- Gives one token back to a bucket of chat_rate_take (never above its
-- capacity); a bucket that does not exist is full already.
CREATE FUNCTION chat_rate_give(p_key text, p_capacity integer) RETURNS void
LANGUAGE sql AS $$
    UPDATE rate_buckets SET tokens = least(p_capacity::double precision, tokens + 1)
     WHERE key = p_key
$$;

-- The end of every successful sign-in (join, register, login): a session
-- for u, u a member of p_room when given, and the answer's data
-- {user, rooms, room}.
CREATE FUNCTION chat_session_open(u users, p_room text, p_hash bytea, p_ttl integer)
RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
    r rooms%ROWTYPE;
BEGIN
    INSERT INTO sessions (token_hash, user_id, expires_at)
    VALUES (p_hash, u.id, now() + make_interval(secs => p_ttl));
    IF p_room IS NOT NULL THEN
        PERFORM chat_member_add(u.id, p_room);
        SELECT * INTO r FROM rooms WHERE id = p_room;
    END IF;
    RETURN json_build_object(
        'user', chat_user_json(u),
        'rooms', chat_rooms_json(50, 0),
        'room', CASE WHEN p_room IS NULL THEN NULL ELSE chat_room_json(r) END);
END
$$;

-- POST /api/join: as in 0012, and a registered name is refused to anyone
-- but its own user's live session, whether or not it has one.
CREATE OR REPLACE FUNCTION chat_join(p_username text, p_room text, p_hash bytea, p_ttl integer,
                                     p_caller text, p_addr text, p_rate integer, p_window integer,
                                     OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                     OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    w integer;
BEGIN
    IF p_room IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rooms WHERE id = p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.user:' || lower(p_username), 0));
    SELECT * INTO u FROM users WHERE lower(username) = lower(p_username);
    IF FOUND THEN
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

-- Says why p_username cannot be registered by p_caller (a user id or
-- NULL): err 'username_taken' when it is registered, or held by another
-- user's live session; NULL when it is free or the caller's own guest
-- name. u is the row of that name, if any. The caller holds the name's
-- advisory lock.
CREATE FUNCTION chat_register_refusal(u users, p_caller text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN u.id IS NULL THEN NULL
        WHEN u.registered THEN 'username is already registered'
        WHEN u.id IS DISTINCT FROM p_caller AND EXISTS (
                 SELECT 1 FROM sessions s WHERE s.user_id = u.id AND s.expires_at > now())
            THEN 'username is in use by another session'
    END
$$;

-- POST /api/register, first step (before the password is hashed, so that
-- a refused name costs no hash): the room exists, the name can be
-- registered by p_caller, and a new name takes a token from the same
-- per-address bucket as POST /api/join's new names. data {} when the
-- second step may go ahead.
CREATE FUNCTION chat_register_check(p_username text, p_room text, p_caller text, p_addr text,
                                    p_rate integer, p_window integer,
                                    OUT err text, OUT msg text, OUT field text,
                                    OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    w integer;
BEGIN
    IF p_room IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rooms WHERE id = p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    SELECT * INTO u FROM users WHERE lower(username) = lower(p_username);
    msg := chat_register_refusal(u, p_caller);
    IF msg IS NOT NULL THEN
        err := 'username_taken'; field := 'username';
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

-- POST /api/register, second step: checks the name again under its lock
-- (another request may have taken it meanwhile), then registers it with
-- p_pw_hash: a new user, or the existing row of a guest name that the
-- caller holds (the same id, memberships and messages) or that nobody
-- holds, as POST /api/join would have handed it over. Answers like join.
CREATE FUNCTION chat_register(p_username text, p_pw_hash text, p_room text, p_hash bytea,
                              p_ttl integer, p_caller text,
                              OUT err text, OUT msg text, OUT field text, OUT retry integer,
                              OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
BEGIN
    IF p_room IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rooms WHERE id = p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.user:' || lower(p_username), 0));
    SELECT * INTO u FROM users WHERE lower(username) = lower(p_username);
    msg := chat_register_refusal(u, p_caller);
    IF msg IS NOT NULL THEN
        err := 'username_taken'; field := 'username';
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

-- Takes one token from each failed-sign-in bucket of a name and an
-- address (p_addr NULL: none), in that order of address first. Returns 0,
-- or the seconds to wait when one is empty (then nothing was taken).
CREATE FUNCTION chat_login_take(p_username text, p_addr text, p_user_rate integer,
                                p_user_window integer, p_addr_rate integer,
                                p_addr_window integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    w integer := 0;
BEGIN
    IF p_addr IS NOT NULL THEN
        w := chat_rate_take('login_addr:' || p_addr, p_addr_rate, p_addr_window);
        IF w > 0 THEN
            RETURN w;
        END IF;
    END IF;
    w := chat_rate_take('login_user:' || lower(p_username), p_user_rate, p_user_window);
    IF w > 0 AND p_addr IS NOT NULL THEN
        PERFORM chat_rate_give('login_addr:' || p_addr, p_addr_rate);
    END IF;
    RETURN w;
END
$$;

-- Gives back the tokens chat_login_take took: the attempt succeeded, or
-- was never checked (the server was too busy to hash).
CREATE FUNCTION chat_login_refund(p_username text, p_addr text, p_user_rate integer,
                                  p_addr_rate integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_addr IS NOT NULL THEN
        PERFORM chat_rate_give('login_addr:' || p_addr, p_addr_rate);
    END IF;
    PERFORM chat_rate_give('login_user:' || lower(p_username), p_user_rate);
END
$$;

-- POST /api/login, first step: the attempt takes its tokens (429
-- rate_limited when a bucket is empty), then data {user_id, username,
-- password_hash} of the name: user_id and password_hash null for a name
-- nobody has (username is then the name asked for), password_hash null
-- for a guest. chat-fcgi checks the password against it (or a dummy hash, so
-- that the time does not tell).
CREATE FUNCTION chat_login_check(p_username text, p_addr text, p_user_rate integer,
                                 p_user_window integer, p_addr_rate integer,
                                 p_addr_window integer,
                                 OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                 OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    w integer;
BEGIN
    w := chat_login_take(p_username, p_addr, p_user_rate, p_user_window, p_addr_rate,
                         p_addr_window);
    IF w > 0 THEN
        err := 'rate_limited'; msg := 'too many failed sign-ins, try again later';
        retry := w;
        RETURN;
    END IF;
    SELECT * INTO u FROM users WHERE lower(username) = lower(p_username);
    data := json_build_object('user_id', u.id, 'username', coalesce(u.username, p_username),
                              'password_hash', u.password_hash);
END
$$;

-- POST /api/login, second step, once the password matched p_pw_hash:
-- gives the attempt's tokens back and opens a session, unless the password
-- changed meanwhile (401 invalid_credentials, as for a wrong one).
-- p_new_pw_hash, when not NULL, replaces a hash made with old parameters.
CREATE FUNCTION chat_login(p_user text, p_pw_hash text, p_new_pw_hash text, p_hash bytea,
                           p_ttl integer, p_username text, p_addr text, p_user_rate integer,
                           p_addr_rate integer,
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
    DELETE FROM sessions WHERE user_id = u.id AND expires_at <= now();
    data := chat_session_open(u, NULL, p_hash, p_ttl);
    data := json_build_object('user', data->'user', 'rooms', data->'rooms');
END
$$;

-- POST /api/me/password, first step: the user's current hash, after the
-- attempt took its tokens from the same buckets as a sign-in (a stolen
-- session must not guess the password faster than a sign-in could). 403
-- forbidden for a user without a password.
CREATE FUNCTION chat_password_check(p_user text, p_addr text, p_user_rate integer,
                                    p_user_window integer, p_addr_rate integer,
                                    p_addr_window integer,
                                    OUT err text, OUT msg text, OUT field text,
                                    OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    w integer;
BEGIN
    SELECT * INTO u FROM users WHERE id = p_user;
    IF NOT FOUND THEN
        err := 'unauthorized'; msg := 'user no longer exists';
        RETURN;
    END IF;
    IF u.password_hash IS NULL THEN
        err := 'forbidden'; msg := 'this account has no password: register it first';
        field := 'current_password';
        RETURN;
    END IF;
    w := chat_login_take(u.username, p_addr, p_user_rate, p_user_window, p_addr_rate,
                         p_addr_window);
    IF w > 0 THEN
        err := 'rate_limited'; msg := 'too many failed password checks, try again later';
        retry := w;
        RETURN;
    END IF;
    data := json_build_object('user_id', u.id, 'username', u.username,
                              'password_hash', u.password_hash);
END
$$;

-- POST /api/me/password, second step, once current_password matched
-- p_old_pw_hash: stores p_new_pw_hash, gives the tokens back and revokes
-- every other session of the user (p_keep is the caller's), telling the
-- bridges with session_revoked as a logout does so that they close those
-- sessions' sockets (p_keep NULL: every session). 403 forbidden when the
-- password changed meanwhile.
CREATE FUNCTION chat_password_set(p_user text, p_old_pw_hash text, p_new_pw_hash text,
                                  p_keep bytea, p_addr text, p_user_rate integer,
                                  p_addr_rate integer,
                                  OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                  OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    h bytea;
    n integer := 0;
BEGIN
    UPDATE users SET password_hash = p_new_pw_hash
     WHERE id = p_user AND password_hash = p_old_pw_hash RETURNING * INTO u;
    IF NOT FOUND THEN
        err := 'forbidden'; msg := 'current_password is not correct'; field := 'current_password';
        RETURN;
    END IF;
    PERFORM chat_login_refund(u.username, p_addr, p_user_rate, p_addr_rate);
    FOR h IN DELETE FROM sessions WHERE user_id = p_user AND token_hash IS DISTINCT FROM p_keep
             RETURNING token_hash LOOP
        PERFORM chat_notify(json_build_object('type', 'session_revoked', 'user_id', p_user,
                                              'token_hash', encode(h, 'hex')));
        n := n + 1;
    END LOOP;
    data := json_build_object('user', chat_user_json(u), 'revoked_sessions', n);
END
$$;
