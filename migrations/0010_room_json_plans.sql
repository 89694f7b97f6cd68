-- 0010_room_json_plans.sql -- room objects from one view, with cached plans.
--
-- chat_room_json was a LANGUAGE sql function with sub-selects. PostgreSQL
-- cannot inline such a function, so it planned its two counting queries
-- again on every call: once per room of every GET /api/rooms. Measured with
-- pgbench (4 clients, 12 rooms): chat_rooms_list ran 1,530 times a second;
-- the same page built from one query in PL/pgSQL, whose plans are kept for
-- the session, ran 10,300 times.
--
-- The room object is now defined once, by the view chat_room_objects, and
-- every function that returns rooms reads it from PL/pgSQL.

CREATE VIEW chat_room_objects AS
SELECT r.id, r.created_at,
       json_build_object(
           'id', r.id,
           'name', r.name,
           'description', r.description,
           'created_at', chat_ts(r.created_at),
           'created_by', r.created_by,
           'member_count', (SELECT count(*) FROM user_rooms ur WHERE ur.room_id = r.id),
           'online_count', (SELECT count(DISTINCT ur.user_id)
                              FROM user_rooms ur
                              JOIN presence p ON p.user_id = ur.user_id
                              JOIN bridges b ON b.id = p.bridge_id
                             WHERE ur.room_id = r.id
                               AND b.heartbeat_at > chat_presence_cutoff()),
           'last_seq', r.last_seq) AS obj
  FROM rooms r;

GRANT SELECT ON chat_room_objects TO chat_app;

CREATE OR REPLACE FUNCTION chat_room_json(r rooms) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT o.obj FROM chat_room_objects o WHERE o.id = r.id);
END
$$;

CREATE OR REPLACE FUNCTION chat_rooms_json(p_limit integer, p_offset integer) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(json_agg(x.obj ORDER BY x.created_at, x.id), '[]'::json)
              FROM (SELECT o.id, o.created_at, o.obj FROM chat_room_objects o
                     ORDER BY o.created_at, o.id
                     LIMIT p_limit OFFSET p_offset) x);
END
$$;

CREATE OR REPLACE FUNCTION chat_member_rooms_json(p_user text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(json_agg(o.obj ORDER BY ur.joined_at, o.id), '[]'::json)
              FROM user_rooms ur JOIN chat_room_objects o ON o.id = ur.room_id
             WHERE ur.user_id = p_user);
END
$$;

-- The same reason: an EXISTS sub-select in a LANGUAGE sql function.
CREATE OR REPLACE FUNCTION chat_user_online(p_user text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM presence p JOIN bridges b ON b.id = p.bridge_id
         WHERE p.user_id = p_user AND b.heartbeat_at > chat_presence_cutoff());
END
$$;
