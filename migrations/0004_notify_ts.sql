-- 0004_notify_ts.sql -- every NOTIFY payload carries "ts", the sender's
-- wall clock in milliseconds, so bridges can report the bus's lag.
--
-- The payloads are built by json_build_object, whose text always ends with
-- the object's closing brace; the member is spliced in before it.
CREATE OR REPLACE FUNCTION chat_notify(p_payload json) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_notify('chat_events',
                     left(p_payload::text, -1) || ', "ts" : '
                     || (extract(epoch FROM clock_timestamp()) * 1000)::bigint || '}')
$$;
