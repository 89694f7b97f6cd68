-- 0025_session_notify.sql -- what the chat-fcgi workers' caches must forget: NOTIFY chat_fcgi.
--
-- Issue 16 item 2. A chat-fcgi worker remembers the sessions it checked
-- (fcgi-app/sesscache.h) and the GET /api/rooms pages it built
-- (fcgi-app/pagecache.h), and LISTENs on chat_fcgi on its own connection.
-- Triggers, not the functions, raise the notifications, so that whatever
-- changes the rows (a REST call, chatctl, housekeeping, an operator's SQL)
-- is heard:
--
-- 1. 's:<user id>' when a live session is deleted (logout, logout
--    everywhere, a password change, a ban, a revocation, the account
--    deleted: sessions go with it) or cut short. An expired session needs
--    no word: the cache knows its expiry. Deleting sessions long expired
--    (chat_housekeeping) says nothing.
-- 2. 'u:<user id>' when a user's standing changes: banned or unbanned,
--    made or unmade a site administrator, renamed, a new password, the
--    account deleted.
-- 3. 'r:<user id>' when the user's room list changes: a membership made or
--    ended, a role changed, a read position moved (unread counts).
-- 4. 'g:' when any room list changes: a room created, deleted, renamed,
--    described again or made public or private.
-- 5. 'x:' (empty everything) when one of these tables is truncated.
--
-- None of them fires on the send path (rooms.last_seq, messages), on
-- presence or on the slide of a session's expiry, and PostgreSQL folds
-- identical notifications of one transaction into one, so that a logout
-- of 1000 sessions says 's:<user id>' once.
--
-- chat_session_check is chat_auth (0020) for chat-fcgi: the session's user
-- and its expiry (epoch seconds, what the cache and the cookie's Max-Age
-- go by). chat_auth slides the expiry forward at most once a minute, so
-- that a session in use writes at most once a minute whatever the number
-- of requests.

CREATE FUNCTION chat_fcgi_notify(p_kind text, p_user text) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_notify('chat_fcgi', p_kind || ':' || coalesce(p_user, ''))
$$;

CREATE FUNCTION chat_session_check(p_hash bytea, p_ttl integer,
                                   OUT user_id text, OUT expires_s bigint)
RETURNS SETOF record
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    SELECT a.user_id INTO user_id FROM chat_auth(p_hash, p_ttl) a;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- A statement of its own: its snapshot sees chat_auth's slide.
    SELECT floor(extract(epoch FROM s.expires_at))::bigint INTO expires_s
      FROM sessions s WHERE s.token_hash = p_hash;
    IF FOUND THEN
        RETURN NEXT;
    END IF;
END
$$;

CREATE FUNCTION chat_fcgi_sessions_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chat_fcgi_notify('s', OLD.user_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_fcgi_delete AFTER DELETE ON sessions
    FOR EACH ROW WHEN (OLD.expires_at > now())
    EXECUTE FUNCTION chat_fcgi_sessions_changed();

CREATE TRIGGER sessions_fcgi_update AFTER UPDATE ON sessions
    FOR EACH ROW WHEN (NEW.expires_at < OLD.expires_at OR NEW.user_id <> OLD.user_id
                       OR NEW.token_hash <> OLD.token_hash)
    EXECUTE FUNCTION chat_fcgi_sessions_changed();

CREATE FUNCTION chat_fcgi_user_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chat_fcgi_notify('u', OLD.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_fcgi_update AFTER UPDATE ON users
    FOR EACH ROW WHEN (OLD.banned_at IS DISTINCT FROM NEW.banned_at
                       OR OLD.site_admin IS DISTINCT FROM NEW.site_admin
                       OR OLD.username IS DISTINCT FROM NEW.username
                       OR OLD.password_hash IS DISTINCT FROM NEW.password_hash)
    EXECUTE FUNCTION chat_fcgi_user_changed();

CREATE TRIGGER users_fcgi_delete AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION chat_fcgi_user_changed();

CREATE FUNCTION chat_fcgi_rooms_of_user_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chat_fcgi_notify('r', CASE WHEN TG_OP = 'DELETE' THEN OLD.user_id ELSE NEW.user_id END);
    RETURN NULL;
END
$$;

CREATE TRIGGER user_rooms_fcgi_insert_delete AFTER INSERT OR DELETE ON user_rooms
    FOR EACH ROW EXECUTE FUNCTION chat_fcgi_rooms_of_user_changed();

CREATE TRIGGER user_rooms_fcgi_update AFTER UPDATE ON user_rooms
    FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role
                       OR OLD.last_read_seq IS DISTINCT FROM NEW.last_read_seq
                       OR OLD.user_id <> NEW.user_id)
    EXECUTE FUNCTION chat_fcgi_rooms_of_user_changed();

CREATE FUNCTION chat_fcgi_rooms_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chat_fcgi_notify('g', NULL);
    RETURN NULL;
END
$$;

CREATE TRIGGER rooms_fcgi_insert_delete AFTER INSERT OR DELETE ON rooms
    FOR EACH STATEMENT EXECUTE FUNCTION chat_fcgi_rooms_changed();

CREATE TRIGGER rooms_fcgi_update AFTER UPDATE ON rooms
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name
                       OR OLD.description IS DISTINCT FROM NEW.description
                       OR OLD.visibility IS DISTINCT FROM NEW.visibility)
    EXECUTE FUNCTION chat_fcgi_rooms_changed();

CREATE FUNCTION chat_fcgi_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chat_fcgi_notify('x', NULL);
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_fcgi_truncate AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION chat_fcgi_truncated();
CREATE TRIGGER users_fcgi_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION chat_fcgi_truncated();
CREATE TRIGGER user_rooms_fcgi_truncate AFTER TRUNCATE ON user_rooms
    FOR EACH STATEMENT EXECUTE FUNCTION chat_fcgi_truncated();
CREATE TRIGGER rooms_fcgi_truncate AFTER TRUNCATE ON rooms
    FOR EACH STATEMENT EXECUTE FUNCTION chat_fcgi_truncated();
