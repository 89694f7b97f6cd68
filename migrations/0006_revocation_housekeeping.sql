-- 0006_revocation_housekeeping.sql -- logout reaches open sockets, and old
-- rows of expired sessions and idle rate buckets go away.

-- Logout: the session goes, and the bridges hear of it so they close the
-- connections opened with that token (they know its hash, never the token).
CREATE OR REPLACE FUNCTION chat_logout(p_hash bytea,
                                       OUT err text, OUT msg text, OUT field text,
                                       OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    uid text;
BEGIN
    DELETE FROM sessions WHERE token_hash = p_hash RETURNING user_id INTO uid;
    IF uid IS NOT NULL THEN
        PERFORM chat_notify(json_build_object('type', 'session_revoked', 'user_id', uid,
                                              'token_hash', encode(p_hash, 'hex')));
    END IF;
    data := json_build_object('logged_out', uid IS NOT NULL);
END
$$;

-- Deletes sessions expired for more than a day and rate buckets untouched
-- for an hour (a bucket that old is full again anyway). Bridges call it
-- now and then; any number of them may. Returns the rows deleted.
CREATE FUNCTION chat_housekeeping() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    m integer;
BEGIN
    DELETE FROM sessions WHERE expires_at < now() - interval '1 day';
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM rate_buckets WHERE updated_at < now() - interval '1 hour';
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END
$$;
