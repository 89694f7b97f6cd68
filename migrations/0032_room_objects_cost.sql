-- 0032_room_objects_cost.sql -- GET /api/rooms pages and the one-room objects (GET /api/rooms/{id}, the join_room ack) built as 0030 builds a member's rooms, by one shared SQL function.
--
-- Issue 16 (sizes people reach), left by 0030 (bench/README.md, "Issue 16,
-- round 3: GET /api/me ..."):
-- * chat_rooms_json (a GET /api/rooms page, on a cache miss) read the view
--   chat_room_objects and, per room, called the PL/pgSQL chat_room_personal
--   (printed the object as text, cut its last brace, appended role and
--   unread, parsed it back; chat_read_pos and chat_unread per room);
-- * the view's online count probes presence once per member: the Room
--   object of a room of 10,000 members (GET /api/rooms/{id}, the join_room
--   ack) cost 10,000 probes.
--
-- chat_room_objects_for(p_user, p_rooms) is 0030's query made a set-
-- returning SQL function (inlined into the caller's query: no call of its
-- own, its parameters substituted): the Room objects of the rooms p_rooms,
-- in that order (column n), each with p_user's role and unread as the
-- last keys (null and null where p_user is not a member, as before). The
-- member count is one index range per room; the online count probes
-- presence per member row unless the rooms have at least 64 member rows
-- in all and presence holds fewer than three rows per member row: then
-- presence is read once into a hashed set. The choice is made when the
-- query runs (presence is read at most 3 x the member rows to decide), so
-- a cached generic plan cannot flip it. Direct rooms still go through
-- chat_room_personal for their peer. The bytes are those of the view's
-- object spliced by chat_room_personal (tests/e2e t57 compares them with
-- the view, which stays as the reference).
--
-- chat_rooms_json (GET /api/rooms pages), chat_room_json_for (GET
-- /api/rooms/{id}, the room of create and join answers) and
-- chat_room_enter (the join_room ack) now build their objects with it.
-- chat_member_rooms_json (GET /api/me, the CONNECT rooms) keeps 0030's
-- query: through this function (the ids as an array, a primary-key probe
-- per room for the membership) GET /api/me of a member of 500 rooms cost
-- 10-20 % more PostgreSQL CPU (bench/README.md, "Issue 16, round 3: GET
-- /api/rooms pages ...").

CREATE FUNCTION chat_room_objects_for(p_user text, p_rooms text[])
RETURNS TABLE (n bigint, id text, obj json)
LANGUAGE sql STABLE AS $$
    -- The rooms, each with its member count (one index range per room) and
    -- p_user's read position, computed once.
    WITH my AS MATERIALIZED (
        SELECT x.n, r.id AS room_id, ur.role, ur.last_read_seq, r.name, r.description,
               r.created_at, r.created_by, r.last_seq, r.visibility, r.change_seq,
               (SELECT count(*) FROM user_rooms m WHERE m.room_id = r.id) AS members,
               CASE WHEN ur.last_read_seq IS NULL THEN NULL
                    WHEN ur.last_read_seq >= r.last_seq THEN ur.last_read_seq
               ELSE greatest(ur.last_read_seq,
                             coalesce((SELECT m.seq FROM messages m
                                        WHERE m.room_id = r.id AND m.user_id = p_user
                                        ORDER BY m.seq DESC LIMIT 1), 0)) END AS pos
          FROM unnest(p_rooms) WITH ORDINALITY x(id, n)
          JOIN rooms r ON r.id = x.id
          -- One probe of the primary key per room: `OFFSET 0` keeps the
          -- subquery from being pulled up into a join, which the generic
          -- plan (ten rooms estimated) made a nested loop over all of
          -- p_user's member rows per room (125,000 comparisons for 500).
          LEFT JOIN LATERAL (SELECT u.role, u.last_read_seq FROM user_rooms u
                              WHERE u.user_id = p_user AND u.room_id = r.id OFFSET 0) ur ON true),
    -- Online members: probe presence per member row unless the rooms have at
    -- least 64 member rows and presence holds fewer than three rows per
    -- member row: then read presence once into a hashed set. Deciding
    -- reads at most 3 x rows of presence.
    t AS MATERIALIZED (SELECT coalesce(sum(my.members), 0) AS rows FROM my),
    g AS MATERIALIZED (
        SELECT t.rows >= 64
               AND (SELECT count(*) FROM (SELECT 1 FROM presence LIMIT 3 * t.rows) x) < 3 * t.rows AS hash
          FROM t),
    onl AS MATERIALIZED (
        SELECT p.user_id FROM presence p JOIN bridges b ON b.id = p.bridge_id
         WHERE b.heartbeat_at > chat_presence_cutoff())
    -- The object as chat_room_objects builds it, with role and unread as
    -- chat_room_personal splices them: the same bytes, built once.
    SELECT my.n, my.room_id,
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
                   'unread', CASE WHEN my.pos IS NULL THEN NULL
                                  WHEN my.pos >= my.last_seq THEN 0
                             ELSE greatest(my.last_seq - my.pos
                                  - (SELECT count(*) FROM messages d
                                      WHERE d.room_id = my.room_id AND d.seq > my.pos
                                        AND d.seq <= my.last_seq AND d.content IS NULL), 0) END)
           END
      FROM my CROSS JOIN g
      -- `IN (SELECT ... FROM onl)` is a hashed subplan, built once (0030:
      -- also where presence's statistics say it is empty); built only when
      -- g.hash.
      CROSS JOIN LATERAL (
          SELECT count(*) FILTER (WHERE CASE WHEN g.hash THEN m.user_id IN (SELECT onl.user_id FROM onl)
                                   ELSE EXISTS (SELECT 1 FROM presence p JOIN bridges b ON b.id = p.bridge_id
                                                 WHERE p.user_id = m.user_id
                                                   AND b.heartbeat_at > chat_presence_cutoff()) END) AS online
            FROM user_rooms m WHERE m.room_id = my.room_id) c
$$;

-- The page's ids are read into a variable first: a subquery among a
-- set-returning SQL function's arguments keeps it from being inlined (it
-- then ran as a function scan, planned again at every call: 7 ms for 500
-- rooms). A STABLE function's statements share one snapshot.
CREATE OR REPLACE FUNCTION chat_rooms_json(p_user text, p_limit integer, p_offset integer)
RETURNS json LANGUAGE plpgsql STABLE AS $$
DECLARE
    ids text[] := ARRAY(SELECT r.id FROM rooms r
                         WHERE r.visibility = 'public'
                            OR EXISTS (SELECT 1 FROM user_rooms ur
                                        WHERE ur.room_id = r.id AND ur.user_id = p_user)
                         ORDER BY r.created_at, r.id
                         LIMIT p_limit OFFSET p_offset);
BEGIN
    RETURN (SELECT coalesce(json_agg(o.obj ORDER BY o.n), '[]'::json)
              FROM chat_room_objects_for(p_user, ids) o);
END
$$;

CREATE OR REPLACE FUNCTION chat_room_json_for(p_user text, p_room text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT o.obj FROM chat_room_objects_for(p_user, ARRAY[p_room]) o);
END
$$;

-- Generic plans, and no JIT. With its parameters known, planning the
-- inlined query took 13-23 ms (EXPLAIN's planning time for the room of
-- 10,000 members), and PL/pgSQL's plan cache kept choosing such custom
-- plans: the generic plan's estimate (ten rooms for an array parameter)
-- looked dearer. The generic plan is safe here: which way the online
-- counts are taken is decided when the query runs (g above), not by the
-- plan. No JIT: a query of index probes whose estimate can pass
-- jit_above_cost (0030).
ALTER FUNCTION chat_rooms_json(text, integer, integer) SET jit = off;
ALTER FUNCTION chat_rooms_json(text, integer, integer) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION chat_room_json_for(text, text) SET jit = off;
ALTER FUNCTION chat_room_json_for(text, text) SET plan_cache_mode = force_generic_plan;

CREATE OR REPLACE FUNCTION chat_room_enter(p_user text, p_room text, p_since bigint, p_limit integer, p_recovery_max integer, p_members integer, p_max_bytes integer, OUT err text, OUT msg text, OUT field text, OUT retry integer, OUT data json, OUT member_gen bigint)
 RETURNS record
 LANGUAGE plpgsql
AS $$
DECLARE
    vis       text;
    is_member boolean;
    banned    boolean;
    room      json;
    last      bigint;
    arr       json;
    recovered boolean;
    members   json;
    more      boolean;
BEGIN
    PERFORM chat_member_lock(p_room, p_user);
    -- chat_room_entry's checks and the membership, in one look.
    SELECT r.visibility, ur.user_id IS NOT NULL, coalesce(ur.gen, 0),
           EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = p_room AND b.user_id = p_user)
      INTO vis, is_member, member_gen, banned
      FROM rooms r
      LEFT JOIN user_rooms ur ON ur.room_id = r.id AND ur.user_id = p_user
     WHERE r.id = p_room;
    IF vis IS NULL OR (vis <> 'public' AND NOT is_member) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        member_gen := NULL;
        RETURN;
    ELSIF banned THEN
        err := 'forbidden'; msg := 'you are banned from this room'; field := 'room_id';
        member_gen := NULL;
        RETURN;
    END IF;
    IF NOT is_member THEN
        PERFORM chat_member_add(p_user, p_room);
        member_gen := NULL;
        SELECT coalesce(ur.gen, 0) INTO member_gen
          FROM user_rooms ur WHERE ur.user_id = p_user AND ur.room_id = p_room;
    END IF;
    -- The room object's last_seq is the line: the ack holds the messages
    -- up to it, everything after it arrives live. The object of
    -- chat_room_json_for (its generic plan and JIT setting stay there).
    room := chat_room_json_for(p_user, p_room);
    last := (room->>'last_seq')::bigint;
    SELECT e.messages, e.recovered INTO arr, recovered
      FROM chat_enter_messages(p_room, p_since, p_limit, p_recovery_max, last,
                               p_max_bytes) e;
    -- chat_user_json per member, its online flag as chat_user_online's query.
    SELECT coalesce(json_agg(chat_user_json(x.u, EXISTS (
                                 SELECT 1 FROM presence p JOIN bridges b ON b.id = p.bridge_id
                                  WHERE p.user_id = (x.u).id
                                    AND b.heartbeat_at > chat_presence_cutoff()))
                             ORDER BY x.joined_at, (x.u).id)
                    FILTER (WHERE x.n <= p_members), '[]'::json),
           count(*) > p_members
      INTO members, more
      FROM (SELECT u, ur.joined_at,
                   row_number() OVER (ORDER BY ur.joined_at, u.id) AS n
              FROM user_rooms ur JOIN users u ON u.id = ur.user_id
             WHERE ur.room_id = p_room
             ORDER BY ur.joined_at, u.id LIMIT p_members + 1) x;
    data := json_build_object('room', room, 'members', members,
                              'members_has_more', more,
                              'messages', arr, 'recovered', recovered);
END
$$;