-- 0030_member_rooms_cost.sql -- a member's Room objects (GET /api/me, the CONNECT ack) without per-room re-parsing and with the online counts set-based.
--
-- Issue 16 item 7 (sizes people reach): GET /api/me for a member of 500
-- rooms ran at 0.045 of the one-room figure; PostgreSQL's 500 objects cost
-- about 15 ms bare and twice that with role and unread (bench/README.md,
-- "Read state and search at size", "Issue 16: sizes people reach"). The
-- CONNECT ack's `rooms` (chat_connect_batch) is the same function.
--
-- chat_member_rooms_json, per room, read the view chat_room_objects (a
-- json_build_object with two subqueries: the member count, the online
-- count as one presence probe per member), printed it as text, cut its
-- last brace off counting characters (left(..., -1) walks the multibyte
-- string), appended role and unread and parsed the result back as json;
-- and its read-position subquery ran three times per room (the lateral's
-- expression was copied into each use). Now, in one query:
-- * the object is built once by json_build_object with role and unread as
--   its last keys: the same bytes as the spliced text (json_build_object
--   separates keys with " : " and ", " as the splice did; tests/e2e t34,
--   t51, t52 compare them with GET /api/rooms/{id} and GET /api/me);
-- * the read position is a column of a materialized CTE, computed once;
-- * the member count is one index range per room, and the online count,
--   for rooms with many members in all, reads presence once into a hashed
--   set instead of probing it per member row (10,500 member rows against
--   5,000 users online: about half the backend's CPU, a third of the
--   PostgreSQL time per GET /api/me with JIT off too); a user with few member
--   rows (the CONNECT of a user in a few rooms) still probes, as before.
--   The decision is made when the query runs, not by the planner (a
--   cached generic plan cannot flip it): presence is read at most 3 x the
--   member rows to decide, so neither path costs more than a small
--   multiple of the probes.
-- Direct rooms still go through chat_room_personal for their peer.

CREATE OR REPLACE FUNCTION chat_member_rooms_json(p_user text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        -- The user's rooms, each with its member count (one index range per
        -- room) and the read position, computed once (a lateral subquery's
        -- expression was evaluated again wherever it was used: three probes
        -- of messages_room_user_seq per room instead of one).
        WITH my AS MATERIALIZED (
            SELECT ur.room_id, ur.role, ur.joined_at, ur.last_read_seq, r.name, r.description,
                   r.created_at, r.created_by, r.last_seq, r.visibility, r.change_seq,
                   (SELECT count(*) FROM user_rooms m WHERE m.room_id = ur.room_id) AS members,
                   CASE WHEN ur.last_read_seq >= r.last_seq THEN ur.last_read_seq
                   ELSE greatest(ur.last_read_seq,
                                 coalesce((SELECT m.seq FROM messages m
                                            WHERE m.room_id = ur.room_id AND m.user_id = p_user
                                            ORDER BY m.seq DESC LIMIT 1), 0)) END AS pos
              FROM user_rooms ur JOIN rooms r ON r.id = ur.room_id
             WHERE ur.user_id = p_user),
        -- Online members: probe presence per member row (as the view does)
        -- unless the rooms have at least 64 member rows and presence holds
        -- fewer than three rows per member row: then read presence once
        -- into a hashed set. Deciding reads at most 3 x rows of presence.
        n AS MATERIALIZED (SELECT coalesce(sum(my.members), 0) AS rows FROM my),
        g AS MATERIALIZED (
            SELECT n.rows >= 64
                   AND (SELECT count(*) FROM (SELECT 1 FROM presence LIMIT 3 * n.rows) x) < 3 * n.rows AS hash
              FROM n),
        onl AS MATERIALIZED (
            SELECT p.user_id FROM presence p JOIN bridges b ON b.id = p.bridge_id
             WHERE b.heartbeat_at > chat_presence_cutoff())
        -- The object as chat_room_objects builds it, with role and unread as
        -- chat_room_personal splices them: the same bytes, built once.
        SELECT coalesce(json_agg(
                   CASE WHEN my.visibility = 'direct' THEN
                       chat_room_personal(json_build_object(
                           'id', my.room_id, 'name', my.name, 'description', my.description,
                           'created_at', chat_ts(my.created_at), 'created_by', my.created_by,
                           'member_count', my.members, 'online_count', c.online,
                           'last_seq', my.last_seq, 'visibility', my.visibility,
                           'change_seq', my.change_seq), my.role, my.room_id, p_user, my.last_read_seq)
                   ELSE json_build_object(
                           'id', my.room_id, 'name', my.name, 'description', my.description,
                           'created_at', chat_ts(my.created_at), 'created_by', my.created_by,
                           'member_count', my.members, 'online_count', c.online,
                           'last_seq', my.last_seq, 'visibility', my.visibility,
                           'change_seq', my.change_seq, 'role', my.role,
                           'unread', CASE WHEN my.pos >= my.last_seq THEN 0
                                     ELSE greatest(my.last_seq - my.pos
                                          - (SELECT count(*) FROM messages d
                                              WHERE d.room_id = my.room_id AND d.seq > my.pos
                                                AND d.seq <= my.last_seq AND d.content IS NULL), 0) END)
                   END ORDER BY my.joined_at, my.room_id), '[]'::json)
          FROM my CROSS JOIN g
          -- `IN (SELECT ... FROM onl)` is a hashed subplan, built once, even
          -- where presence's statistics say it is empty (checked: plan with
          -- reltuples 0 and 5,000 rows); it is built only when g.hash.
          CROSS JOIN LATERAL (
              SELECT count(*) FILTER (WHERE CASE WHEN g.hash THEN m.user_id IN (SELECT onl.user_id FROM onl)
                                       ELSE EXISTS (SELECT 1 FROM presence p JOIN bridges b ON b.id = p.bridge_id
                                                     WHERE p.user_id = m.user_id
                                                       AND b.heartbeat_at > chat_presence_cutoff()) END) AS online
                FROM user_rooms m WHERE m.room_id = my.room_id) c);
END
$$;

-- No JIT compilation (as chat_send_batch, 0027): with a few hundred rooms
-- the planner's estimate passes jit_above_cost (100000) and every call
-- compiled its expressions, about 50 ms of the 160 that 500 rooms of 21
-- members took under EXPLAIN ANALYZE, for a query of index probes.
ALTER FUNCTION chat_member_rooms_json(text) SET jit = off;
