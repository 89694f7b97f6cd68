-- 0016_bridge_remove_locks.sql -- a bridge's removal takes its users' presence locks.
--
-- chat_bridge_remove (0014) deleted a gone bridge's presence rows and told
-- each of its users "offline" when chat_user_online() found no other live
-- row, without the user's presence lock that every other path takes
-- (chat_presence_open, chat_presence_close_many, chat_connect_batch). A
-- CONNECT of the same user on another bridge, committing between that
-- check and this transaction's commit, then saw the old rows (not yet
-- deleted for it) and sent no "online": the user was shown offline while
-- connected. Taking the lock, in the sorted order of the other paths,
-- makes the two wait for each other.

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
        PERFORM pg_advisory_xact_lock(hashtextextended('chat.presence:' || uid, 0));
        IF NOT chat_user_online(uid) THEN
            UPDATE users SET last_seen = now() WHERE id = uid;
            PERFORM chat_notify_status(uid, 'offline');
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
