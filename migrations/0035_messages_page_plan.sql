-- 0035_messages_page_plan.sql -- history pages with plans made once (issue 16).
--
-- The services now plan their statements once per session
-- (plan_cache_mode = force_generic_plan, CHAT_DB_PLANS, common/dbcall.c).
-- chat_messages_page bounded its page with "p_before IS NULL OR m.seq <
-- p_before", which a custom plan simplifies with the value in hand but a
-- generic plan cannot use as an index condition: a page in the middle of a
-- room of 1,000,000 messages (before=500000) scanned the 500,000 newer ones
-- first, 3,103 -> 12 req/s (bench/README.md, "Issue 16, round 4"). The
-- bound is now one condition on seq. Otherwise 0019's function as it was.

CREATE OR REPLACE FUNCTION chat_messages_page(p_user text, p_room text, p_limit integer,
                                              p_before bigint, p_after bigint,
                                              OUT err text, OUT msg text, OUT field text,
                                              OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    arr  json;
    edge bigint;
    more boolean;
    -- The upper bound as one index condition: "p_before IS NULL OR seq <
    -- p_before" is not one, so a plan made once for every p_before walked
    -- the room's index down from its newest message.
    upto bigint := coalesce(p_before, 9223372036854775807);
BEGIN
    IF NOT chat_room_visible(p_user, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF p_after IS NOT NULL THEN
        SELECT coalesce(json_agg(chat_message_json(x.m) ORDER BY (x.m).seq), '[]'::json),
               max((x.m).seq)
          INTO arr, edge
          FROM (SELECT m FROM messages m
                 WHERE m.room_id = p_room AND m.seq > p_after
                   AND m.seq < upto
                 ORDER BY m.seq LIMIT p_limit) x;
        more := edge IS NOT NULL AND EXISTS (
            SELECT 1 FROM messages m WHERE m.room_id = p_room AND m.seq > edge
               AND m.seq < upto);
    ELSE
        SELECT coalesce(json_agg(chat_message_json(x.m) ORDER BY (x.m).seq), '[]'::json),
               min((x.m).seq)
          INTO arr, edge
          FROM (SELECT m FROM messages m
                 WHERE m.room_id = p_room AND m.seq < upto
                 ORDER BY m.seq DESC LIMIT p_limit) x;
        more := edge IS NOT NULL AND EXISTS (
            SELECT 1 FROM messages m WHERE m.room_id = p_room AND m.seq < edge);
    END IF;
    data := json_build_object('messages', arr, 'has_more', more);
END
$$;
