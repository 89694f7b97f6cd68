-- 0026_connect_cost.sql -- CONNECT and join_room with fewer statements and no function call per member.
--
-- Issue 16 item 6b (connection storms). A bridge's one query connection
-- runs every CONNECT batch and every join_room in order, so the statements
-- they cost per connection bound how fast a bridge takes its clients back
-- after a restart (bench/README.md, "Issue 16, round 2: connection
-- storms"). The profile of a ramp (track_functions) showed, per connect:
-- chat_user_online called 13 times (the join ack's member list, one
-- PL/pgSQL call per member; the CONNECT's user object; presence), the
-- room object of the ack built through chat_room_json_for and
-- chat_room_personal (two more PL/pgSQL calls and their queries), and a
-- join of a member (every reconnect) going through chat_room_entry and
-- chat_member_add, which looked up the room, the membership and the bans
-- again behind the same lock, to insert nothing.
--
-- Now:
-- * chat_room_objects' online_count counts the members that have a live
--   presence row (EXISTS per member) instead of counting the distinct
--   users of the join of every member's presence rows: the same number,
--   without the sort (about half the time in a room of 10 members with
--   two connections each; more as a room grows). It stays a count over the
--   room's members: see 0024 on why it is no counter.
-- * chat_user_json(u, online): the user object with its online flag given,
--   so that a list computes the flags in its own query (an EXISTS over
--   presence and live bridges, chat_user_online's condition) instead of a
--   PL/pgSQL call per user. chat_user_json(u) passes chat_user_online's
--   answer to it: one shape for both.
-- * chat_room_enter: room, membership and ban in one query; chat_member_add
--   only for a user who is not yet a member (its checks then run as
--   before); the room object spliced as chat_room_personal does, in one
--   query with the read position and the unread count (as 0024 did for
--   chat_member_rooms_json; a direct room still goes through
--   chat_room_json_for for its peer); the members with their online flags
--   in the members' query.
-- * chat_connect_batch: the sessions of the batch in one query, the locks
--   in one statement, the bridge's row inserted once per batch, and
--   chat_presence_open's work inline with the online checks as EXISTS; the
--   user's row read back from its last_seen UPDATE.
-- Every result is the same, byte for byte (tests/e2e t52).

CREATE OR REPLACE VIEW chat_room_objects AS
SELECT r.id, r.created_at,
       json_build_object(
           'id', r.id,
           'name', r.name,
           'description', r.description,
           'created_at', chat_ts(r.created_at),
           'created_by', r.created_by,
           'member_count', (SELECT count(*) FROM user_rooms ur WHERE ur.room_id = r.id),
           'online_count', (SELECT count(*)
                              FROM user_rooms ur
                             WHERE ur.room_id = r.id
                               AND EXISTS (SELECT 1 FROM presence p
                                             JOIN bridges b ON b.id = p.bridge_id
                                            WHERE p.user_id = ur.user_id
                                              AND b.heartbeat_at > chat_presence_cutoff())),
           'last_seq', r.last_seq,
           'visibility', r.visibility,
           'change_seq', r.change_seq) AS obj,
       r.visibility
  FROM rooms r;

CREATE OR REPLACE FUNCTION chat_user_json(u users, p_online boolean) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', u.id,
        'username', u.username,
        'joined_at', chat_ts(u.joined_at),
        'last_seen', chat_ts(u.last_seen),
        'online', p_online,
        'registered', u.registered)
$$;

-- The one-argument form, the same object from the same shape.
CREATE OR REPLACE FUNCTION chat_user_json(u users) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT chat_user_json(u, chat_user_online(u.id))
$$;

CREATE OR REPLACE FUNCTION chat_room_enter(p_user text, p_room text, p_since bigint,
                                           p_limit integer, p_recovery_max integer,
                                           p_members integer, p_max_bytes integer,
                                           OUT err text, OUT msg text, OUT field text,
                                           OUT retry integer, OUT data json,
                                           OUT member_gen bigint)
LANGUAGE plpgsql AS $$
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
    -- up to it, everything after it arrives live. As chat_room_json_for.
    SELECT CASE WHEN o.visibility = 'direct' THEN
               chat_room_personal(o.obj, ur.role, o.id, p_user, ur.last_read_seq)
           ELSE
               -- As chat_room_personal splices them.
               (left(o.obj::text, -1) || ', "role" : ' || coalesce(to_json(ur.role)::text, 'null')
                || ', "unread" : ' || coalesce(rd.unread::text, 'null') || '}')::json
           END
      INTO room
      FROM chat_room_objects o
      JOIN rooms r ON r.id = o.id
      LEFT JOIN user_rooms ur ON ur.room_id = o.id AND ur.user_id = p_user
      -- chat_read_pos: nothing after the stored position, no probe.
      CROSS JOIN LATERAL (
          SELECT CASE WHEN ur.last_read_seq IS NULL THEN NULL
                      WHEN ur.last_read_seq >= r.last_seq THEN ur.last_read_seq
                 ELSE greatest(ur.last_read_seq,
                               coalesce((SELECT m.seq FROM messages m
                                          WHERE m.room_id = o.id AND m.user_id = p_user
                                          ORDER BY m.seq DESC LIMIT 1), 0)) END AS pos) p
      -- chat_unread.
      CROSS JOIN LATERAL (
          SELECT CASE WHEN p.pos IS NULL THEN NULL
                      WHEN p.pos >= r.last_seq THEN 0
                 ELSE greatest(r.last_seq - p.pos
                               - (SELECT count(*) FROM messages d
                                   WHERE d.room_id = o.id AND d.seq > p.pos
                                     AND d.seq <= r.last_seq AND d.content IS NULL), 0)
                 END AS unread) rd
     WHERE o.id = p_room;
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

CREATE OR REPLACE FUNCTION chat_connect_batch(p_hashes bytea[], p_ttls integer[],
                                              p_bridges text[], p_conns text[])
RETURNS TABLE (err text, msg text, field text, retry integer, data json)
LANGUAGE plpgsql AS $$
DECLARE
    n      integer := coalesce(cardinality(p_hashes), 0);
    uids   text[];
    datas  json[] := '{}';
    uid    text;
    j      integer;
    u      users%ROWTYPE;
    online boolean;
BEGIN
    IF cardinality(p_ttls) IS DISTINCT FROM n OR cardinality(p_bridges) IS DISTINCT FROM n
       OR cardinality(p_conns) IS DISTINCT FROM n THEN
        RAISE EXCEPTION 'chat_connect_batch: arrays of different lengths';
    END IF;
    -- Who: nothing is written before the locks.
    SELECT coalesce(array_agg(s.user_id ORDER BY h.i), '{}') INTO uids
      FROM unnest(p_hashes) WITH ORDINALITY AS h(hash, i)
      LEFT JOIN sessions s ON s.token_hash = h.hash AND s.expires_at > now();
    datas := array_fill(NULL::json, ARRAY[n]);
    -- The locks in the order of the user ids, as one statement.
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.presence:' || x.uid, 0))
       FROM (SELECT DISTINCT o.uid FROM unnest(uids) AS o(uid)
              WHERE o.uid IS NOT NULL ORDER BY 1) x;
    -- chat_presence_open's bridge row, once for the batch.
    INSERT INTO bridges (id)
    SELECT DISTINCT b.id FROM unnest(p_bridges) WITH ORDINALITY AS b(id, i)
     WHERE uids[b.i::integer] IS NOT NULL
    ON CONFLICT (id) DO NOTHING;
    -- The writes, user by user in the order of the locks.
    FOR j IN SELECT o.i FROM unnest(uids) WITH ORDINALITY AS o(uid, i)
              WHERE o.uid IS NOT NULL ORDER BY o.uid, o.i LOOP
        uid := NULL;
        SELECT a.user_id INTO uid FROM chat_auth(p_hashes[j], p_ttls[j]) a;
        IF uid IS DISTINCT FROM uids[j] THEN
            uids[j] := NULL; -- logged out meanwhile
            CONTINUE;
        END IF;
        -- chat_presence_open (its lock is held), online as chat_user_online.
        online := EXISTS (SELECT 1 FROM presence p JOIN bridges b ON b.id = p.bridge_id
                           WHERE p.user_id = uid AND b.heartbeat_at > chat_presence_cutoff());
        INSERT INTO presence (bridge_id, conn_id, user_id) VALUES (p_bridges[j], p_conns[j], uid)
        ON CONFLICT (bridge_id, conn_id) DO UPDATE SET user_id = EXCLUDED.user_id;
        UPDATE users SET last_seen = now() WHERE id = uid RETURNING * INTO u;
        IF NOT online THEN
            PERFORM chat_notify_status(uid, 'online');
        END IF;
        online := EXISTS (SELECT 1 FROM presence p JOIN bridges b ON b.id = p.bridge_id
                           WHERE p.user_id = uid AND b.heartbeat_at > chat_presence_cutoff());
        datas[j] := json_build_object('user', chat_user_json(u, online),
                                      'rooms', chat_member_rooms_json(uid));
    END LOOP;
    FOR i IN 1 .. n LOOP
        err := NULL; msg := NULL; field := NULL; retry := NULL; data := NULL;
        IF uids[i] IS NULL THEN
            err := 'unauthorized'; msg := 'the session is invalid or has expired';
        ELSE
            data := datas[i];
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
