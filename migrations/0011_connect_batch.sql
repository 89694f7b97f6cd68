-- 0011_connect_batch.sql -- many Socket.IO CONNECTs in one call.
--
-- A bridge sends the CONNECTs that queue up while a transaction is in
-- flight as one call (pgloop batches, like chat_send_batch of 0009). Each
-- CONNECT takes its user's presence lock and writes the user's row; done
-- one by one inside one transaction, the locks were taken in arrival order,
-- and with several bridges ramping up connections of the same users the
-- transactions deadlocked (seen with 6 bridges and 100,000 connections
-- over 1,000 users). Here every user's lock is taken first, in one order
-- (sorted, as chat_presence_close_many does), so two batches cannot
-- deadlock on them. Row i answers request i as chat_connect would.
CREATE FUNCTION chat_connect_batch(p_hashes bytea[], p_ttls integer[], p_bridges text[],
                                   p_conns text[])
RETURNS TABLE (err text, msg text, field text, retry integer, data json)
LANGUAGE plpgsql AS $$
DECLARE
    n    integer := coalesce(cardinality(p_hashes), 0);
    uids text[] := '{}';
    uid  text;
    u    users%ROWTYPE;
BEGIN
    IF cardinality(p_ttls) IS DISTINCT FROM n OR cardinality(p_bridges) IS DISTINCT FROM n
       OR cardinality(p_conns) IS DISTINCT FROM n THEN
        RAISE EXCEPTION 'chat_connect_batch: arrays of different lengths';
    END IF;
    FOR i IN 1 .. n LOOP
        uid := NULL;
        SELECT a.user_id INTO uid FROM chat_auth(p_hashes[i], p_ttls[i]) a;
        uids := uids || uid;
    END LOOP;
    FOR uid IN SELECT DISTINCT x FROM unnest(uids) x WHERE x IS NOT NULL ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended('chat.presence:' || uid, 0));
    END LOOP;
    FOR i IN 1 .. n LOOP
        err := NULL; msg := NULL; field := NULL; retry := NULL; data := NULL;
        IF uids[i] IS NULL THEN
            err := 'unauthorized'; msg := 'the session is invalid or has expired';
        ELSE
            PERFORM chat_presence_open(p_bridges[i], p_conns[i], uids[i]);
            SELECT * INTO u FROM users WHERE id = uids[i];
            data := json_build_object('user', chat_user_json(u),
                                      'rooms', chat_member_rooms_json(uids[i]));
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;

-- One implementation: a lone CONNECT is a batch of one.
CREATE OR REPLACE FUNCTION chat_connect(p_hash bytea, p_ttl integer, p_bridge text, p_conn text,
                                        OUT err text, OUT msg text, OUT field text,
                                        OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT b.err, b.msg, b.field, b.retry, b.data INTO err, msg, field, retry, data
      FROM chat_connect_batch(ARRAY[p_hash], ARRAY[p_ttl], ARRAY[p_bridge], ARRAY[p_conn]) b;
END
$$;
