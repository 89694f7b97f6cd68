-- 0007_presence_batch.sql -- closing many connections in one statement.
--
-- A bridge that loses thousands of clients at once (a network blip, a
-- restart of nginx) used to close their presence rows one statement each,
-- every one taking its user's lock: bridges then queued behind each other's
-- locks for minutes. Now a bridge closes every connection whose grace
-- period ended in one call, taking the users' locks in one order (sorted),
-- so concurrent calls of several bridges cannot deadlock either.
CREATE FUNCTION chat_presence_close_many(p_bridge text, p_conns text[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    uids text[];
    uid  text;
    n    integer := 0;
BEGIN
    SELECT array_agg(DISTINCT user_id ORDER BY user_id) INTO uids
      FROM presence WHERE bridge_id = p_bridge AND conn_id = ANY (p_conns);
    FOREACH uid IN ARRAY coalesce(uids, '{}'::text[]) LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended('chat.presence:' || uid, 0));
    END LOOP;
    DELETE FROM presence WHERE bridge_id = p_bridge AND conn_id = ANY (p_conns);
    FOREACH uid IN ARRAY coalesce(uids, '{}'::text[]) LOOP
        UPDATE users SET last_seen = now() WHERE id = uid;
        IF NOT chat_user_online(uid) THEN
            PERFORM chat_notify_status(uid, 'offline');
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
