-- 0033_segment_chain.sql -- a bridge's ordered pipeline segments, two in
-- flight (issue 16 item 1).
--
-- chat-ws sends its requests on one connection in pipeline segments, each
-- an implicit transaction. A segment holding sends ("ordered" in
-- ws-bridge/pgbatch.c) went out only once the ordered segment before it
-- had ended, so that a segment that rolls back and runs again cannot be
-- overtaken by the next one: the sending backend idled for a round trip
-- through the bridge between segments (about a fifth of its time at 16,000
-- messages/s). Now the next ordered segment goes out while one is in
-- flight, and runs only if that one committed: every ordered segment
-- starts with chat_segment_chain(its predecessor, itself). The mark is a
-- session setting, which a transaction that rolls back takes back with it;
-- so a segment whose predecessor rolled back fails here, before it did
-- anything, and its requests run again after the predecessor's, in order.
--
-- p_prev '' (no ordered segment in flight when this one was sent): no check.
CREATE FUNCTION chat_segment_chain(p_prev text, p_this text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_prev <> '' AND current_setting('chat.segment', true) IS DISTINCT FROM p_prev THEN
        RAISE EXCEPTION 'segment % did not commit', p_prev
              USING ERRCODE = 'transaction_rollback',
                    HINT = 'The bridge runs this segment again after it.';
    END IF;
    PERFORM set_config('chat.segment', p_this, false);
END
$$;
