-- 0024_room_objects_set.sql -- a user's Room objects with role and unread in one plan; member pages in index order.
--
-- Issue 16 item 7 (sizes people reach). GET /api/me (and the CONNECT ack,
-- which carries the same list) for a user in 500 rooms called, per room,
-- chat_room_personal, a PL/pgSQL function, which called chat_read_pos and
-- chat_unread, each a query of its own: about 10 ms of the 25-35 ms that
-- the 500 objects took (bench/README.md, "Read state and search at size").
--
-- chat_member_rooms_json now computes the read position and the unread
-- count as lateral subqueries of its own query (two index probes per room
-- of the same plan, and none at all for a room read to its end), and
-- splices role and unread into the object as chat_room_personal does, so
-- the JSON is the same byte for byte (tests/e2e t34 and t51; a direct
-- room, rare in a list, still goes through chat_room_personal for its
-- peer). The member and online counts stay the view's per-room
-- subqueries: written as aggregates over every member row of the rooms
-- grouped by room they measured no faster, and the generic plan PL/pgSQL
-- cached for them took 2 s for 500 rooms with 5,000 users online. Nor are
-- they kept as counters on rooms: a counter puts an UPDATE of the room's
-- row (the row every send to the room locks) on every join and leave, and
-- the online count depends on bridges' heartbeats, which no write marks.

CREATE OR REPLACE FUNCTION chat_member_rooms_json(p_user text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT coalesce(json_agg(
                   CASE WHEN o.visibility = 'direct' THEN
                       chat_room_personal(o.obj, ur.role, o.id, p_user, ur.last_read_seq)
                   ELSE
                       -- As chat_room_personal splices them.
                       (left(o.obj::text, -1) || ', "role" : ' || to_json(ur.role)::text
                        || ', "unread" : ' || rd.unread::text || '}')::json
                   END
                   ORDER BY ur.joined_at, ur.room_id), '[]'::json)
          FROM user_rooms ur
          JOIN rooms r ON r.id = ur.room_id
          JOIN chat_room_objects o ON o.id = ur.room_id
          -- chat_read_pos: nothing after the stored position, no probe.
          CROSS JOIN LATERAL (
              SELECT CASE WHEN ur.last_read_seq >= r.last_seq THEN ur.last_read_seq
                     ELSE greatest(ur.last_read_seq,
                                   coalesce((SELECT m.seq FROM messages m
                                              WHERE m.room_id = ur.room_id
                                                AND m.user_id = ur.user_id
                                              ORDER BY m.seq DESC LIMIT 1), 0)) END AS pos) p
          -- chat_unread.
          CROSS JOIN LATERAL (
              SELECT CASE WHEN p.pos >= r.last_seq THEN 0
                     ELSE greatest(r.last_seq - p.pos
                                   - (SELECT count(*) FROM messages d
                                       WHERE d.room_id = ur.room_id AND d.seq > p.pos
                                         AND d.seq <= r.last_seq AND d.content IS NULL), 0)
                     END AS unread) rd
         WHERE ur.user_id = p_user);
END
$$;

-- A page of a room's member list (GET /api/users/{room_id}, the members of
-- the join_room ack) is ordered by joined_at, id: without an index in that
-- order every page sorted all the members of the room (a top-N sort of
-- 10,000 rows for the first 100 of a room of 10,000). With it the first
-- pages read their rows in order. Only joins and leaves maintain it, not
-- the send path.
CREATE INDEX user_rooms_room_joined_idx ON user_rooms (room_id, joined_at, user_id);
