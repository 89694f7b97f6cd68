-- 0018_external_identity.sql -- users signed in by a site's JWT (CHAT_JWT_SECRET).
--
-- A site that already has users mints an HS256 JWT with sub (its stable
-- user id), name (the username to show) and exp; chat-fcgi and chat-ws
-- verify it (common/jwtauth.c) and hand sub and name to the functions
-- below, which find the user by sub, creating it on first use and renaming
-- it when name changed. Such a user is registered: it has no password and
-- no session row here, the site vouches for it on every use.
--
-- The name rule: a name belongs to one user (users_username_lower_key,
-- case-insensitive). When the token's name is held by another user, guest
-- or registered, live session or not, the token is refused with
-- username_taken (409 / CONNECT_ERROR) and nothing changes: a site user
-- never takes over another user's row, messages or memberships. The site
-- picks another name (or the sysadmin frees it).
--
-- registered comes with the accounts of migration 0017; IF NOT EXISTS keeps
-- this file right whichever lands first.

ALTER TABLE users ADD COLUMN IF NOT EXISTS registered boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN external_id text
    CONSTRAINT users_external_id_check CHECK (octet_length(external_id) BETWEEN 1 AND 255);
CREATE UNIQUE INDEX users_external_id_key ON users (external_id);

-- The user of sub, created or renamed to p_name: data is the User object.
-- Locks: chat.external:<sub> (one sub at a time), then, only to create or
-- rename, chat.user:<lower(name)> as chat_join takes it, then the row.
CREATE FUNCTION chat_external_user(p_sub text, p_name text,
                                   OUT err text, OUT msg text, OUT field text,
                                   OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.external:' || p_sub, 0));
    SELECT * INTO u FROM users WHERE external_id = p_sub;
    IF FOUND AND u.username = p_name THEN
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

-- A socket's CONNECT with a site token: chat_connect's answer ({user,
-- rooms}, the presence row opened) for the user of sub. The user's
-- presence lock is taken before its row is written, the order of 0014
-- (chat_presence_close_many takes the lock, then writes the row); a user
-- created here is new to every other transaction.
CREATE FUNCTION chat_connect_external(p_sub text, p_name text, p_bridge text, p_conn text,
                                      OUT err text, OUT msg text, OUT field text,
                                      OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    uid text;
    e   record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.external:' || p_sub, 0));
    SELECT id INTO uid FROM users WHERE external_id = p_sub;
    IF uid IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('chat.presence:' || uid, 0));
    END IF;
    SELECT * INTO e FROM chat_external_user(p_sub, p_name);
    IF e.err IS NOT NULL THEN
        err := e.err; msg := e.msg; field := e.field;
        RETURN;
    END IF;
    uid := e.data->>'id';
    PERFORM chat_presence_open(p_bridge, p_conn, uid);
    data := json_build_object('user', chat_user_json((SELECT u FROM users u WHERE u.id = uid)),
                              'rooms', chat_member_rooms_json(uid));
END
$$;
