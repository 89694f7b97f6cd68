-- 0038_sent_position.sql -- the sender's read position kept in a table of
-- its own, written once per sender and room per insert, instead of the
-- index messages_room_user_seq (issue 16 item 1).
--
-- Sending a message reads the room up to it (DESIGN §8). Since 0021 the
-- position was computed: the greater of user_rooms.last_read_seq and the
-- seq of the member's newest message in the room, found through the index
-- messages_room_user_seq (room_id, user_id, seq), so that the send path
-- wrote nothing for it. But that index is one of the four btrees every
-- message enters. Measured on this machine (bench/README.md, "Issue 16,
-- round 6"): durable-if32 on fresh stacks, 6 runs each, alternating with
-- the build before: median 19,246 against 16,234 acks/s, PostgreSQL's
-- CPU per ack 43 against 48 us.
--
-- 1. user_room_sent (user_id, room_id, seq): the seq of the user's newest
--    message in the room. The messages insert trigger (once per
--    statement) upserts one row per sender and room of the statement, in
--    place of an index entry per message. Only senders write it, and
--    chat_send_many holds the rooms' rows while it does: a table of its
--    own, not a column of user_rooms, because a bridge's transaction may
--    hold a member row (mark_read, leave_room) and then wait for a room
--    that a sending transaction holds, which would then wait for that
--    member row. It moves no mark, raises no `read` and no chat_fcgi `r:`
--    (as before). A row outlives a membership: a new membership starts at
--    the room's last_seq (chat_read_start), at or beyond it. Its foreign
--    keys take it away with its user or room, and follow an id that
--    changes (where messages let it: chat_messages_key_update refuses a
--    referenced one, with its own error, as before).
-- 2. The position is greatest(last_read_seq, that seq): chat_read_pos
--    (one primary-key probe), and the same probe where the room lists
--    computed it inline (chat_member_rooms_json, chat_room_objects_for).
-- 3. Existing members get their newest message's seq, read through the
--    index before it is dropped. messages is locked first (the send path
--    locks rooms' rows, then inserts, then updates rooms: holding messages
--    first leaves no sender between the two), so that no message is
--    stored between that read and the new trigger; a lock not granted in
--    10 s fails the migration instead of stopping traffic behind a long
--    transaction (run it again).
--
-- Unchanged: the position only moves forward (a message deleted or
-- truncated away leaves it where it was: before, a truncated newest
-- message took the position back), and non-members have none.

SET LOCAL lock_timeout = '10s';
LOCK TABLE messages IN ACCESS EXCLUSIVE MODE;

CREATE TABLE user_room_sent (
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE,
    room_id text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE ON UPDATE CASCADE,
    seq     bigint NOT NULL CHECK (seq > 0),
    PRIMARY KEY (user_id, room_id)
);
-- The rooms foreign key's cascade finds a room's rows through it.
CREATE INDEX user_room_sent_room_idx ON user_room_sent (room_id);
-- Read by chat_read_pos and the room lists as the caller; written only by
-- the insert trigger (SECURITY DEFINER) and the foreign keys.
GRANT SELECT ON user_room_sent TO chat_app;

INSERT INTO user_room_sent (user_id, room_id, seq)
SELECT s.user_id, s.room_id, s.seq
  FROM (SELECT u.user_id, u.room_id,
               (SELECT m.seq FROM messages m
                 WHERE m.room_id = u.room_id AND m.user_id = u.user_id
                 ORDER BY m.seq DESC LIMIT 1) AS seq
          FROM user_rooms u) s
 WHERE s.seq IS NOT NULL;

-- As in 0037, and then the senders' positions.
CREATE OR REPLACE FUNCTION chat_messages_refs_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_rooms text[];
    v_users text[];
    locked  bigint;
    bad     text;
BEGIN
    SELECT array_agg(DISTINCT n.room_id), array_agg(DISTINCT n.user_id) FILTER (WHERE n.user_id IS NOT NULL)
      INTO v_rooms, v_users FROM new_rows n;
    PERFORM 1 FROM rooms r WHERE r.id = ANY (v_rooms) ORDER BY r.id FOR KEY SHARE;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked < coalesce(cardinality(v_rooms), 0) THEN
        SELECT x INTO bad FROM unnest(v_rooms) x
         WHERE NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = x) ORDER BY x LIMIT 1;
        IF FOUND THEN
            PERFORM chat_messages_fk_fail('room_id', bad);
        END IF;
    END IF;
    IF v_users IS NOT NULL THEN
        PERFORM 1 FROM users u WHERE u.id = ANY (v_users) ORDER BY u.id FOR KEY SHARE;
        GET DIAGNOSTICS locked = ROW_COUNT;
        IF locked < cardinality(v_users) THEN
            SELECT x INTO bad FROM unnest(v_users) x
             WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = x) ORDER BY x LIMIT 1;
            IF FOUND THEN
                PERFORM chat_messages_fk_fail('user_id', bad);
            END IF;
        END IF;
    END IF;
    -- Each sender has read the room up to their newest message in it. In
    -- (user, room) order: inserters other than chat_send_many (which holds
    -- the rooms' rows) take the rows in one order too.
    INSERT INTO user_room_sent AS s (user_id, room_id, seq)
    SELECT x.user_id, x.room_id, max(x.seq) FROM new_rows x
     WHERE x.user_id IS NOT NULL GROUP BY x.user_id, x.room_id ORDER BY x.user_id, x.room_id
        ON CONFLICT (user_id, room_id) DO UPDATE SET seq = excluded.seq WHERE s.seq < excluded.seq;
    RETURN NULL;
END
$$;

-- A member's read position: the greater of the mark and their newest
-- message (0021's function; a primary-key probe now).
CREATE OR REPLACE FUNCTION chat_read_pos(p_room text, p_user text, p_stored bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_stored IS NOT NULL THEN
        greatest(p_stored, coalesce((SELECT s.seq FROM user_room_sent s
                                      WHERE s.user_id = p_user AND s.room_id = p_room), 0))
    END
$$;

-- As in 0030, the newest own message from user_room_sent.
CREATE OR REPLACE FUNCTION chat_member_rooms_json(p_user text) RETURNS json
LANGUAGE plpgsql STABLE SET jit = off AS $$
BEGIN
    RETURN (
        -- The user's rooms, each with its member count (one index range per
        -- room) and the read position, computed once (a lateral subquery's
        -- expression was evaluated again wherever it was used: three probes
        -- per room instead of one).
        WITH my AS MATERIALIZED (
            SELECT ur.room_id, ur.role, ur.joined_at, ur.last_read_seq, r.name, r.description,
                   r.created_at, r.created_by, r.last_seq, r.visibility, r.change_seq,
                   (SELECT count(*) FROM user_rooms m WHERE m.room_id = ur.room_id) AS members,
                   CASE WHEN ur.last_read_seq >= r.last_seq THEN ur.last_read_seq
                   ELSE greatest(ur.last_read_seq,
                                 coalesce((SELECT s.seq FROM user_room_sent s
                                            WHERE s.user_id = p_user AND s.room_id = ur.room_id), 0)) END AS pos
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

-- As in 0032, the newest own message from user_room_sent.
CREATE OR REPLACE FUNCTION chat_room_objects_for(p_user text, p_rooms text[])
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
                             coalesce((SELECT s.seq FROM user_room_sent s
                                        WHERE s.user_id = p_user AND s.room_id = r.id), 0)) END AS pos
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

DROP INDEX messages_room_user_seq;
