-- 0036_send_plans.sql -- the send functions plan their statements once
-- (issue 16).
--
-- With PostgreSQL's own plan_cache_mode (auto), chat_send_batch's
-- statements take arrays and inline chat_message_json, so they kept their
-- custom plans and were planned again on every call: most of a lone send's
-- time. A lone chat_send_message, pgbench -M prepared, one session,
-- synchronous_commit off: 1.04-1.12 ms with auto, 0.70-0.71 with these
-- two settings, 0.53 with the whole session generic (bench/README.md,
-- "Issue 16, round 4"). The whole session generic (CHAT_DB_PLANS=generic)
-- also slowed the CONNECT path's Room objects, so the services keep auto
-- by default and only these two functions plan once. Their statements were
-- written for it: index probes per request (0023, 0034), no choice that
-- depends on the values.
ALTER FUNCTION chat_send_message(text, text, text, text, integer, integer)
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION chat_send_batch(text[], text[], text[], text[], integer[], integer[])
    SET plan_cache_mode = force_generic_plan;
