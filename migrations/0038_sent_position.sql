-- 0038_sent_position.sql -- the sender's read position as a column of the
-- member row, written once per sender and room per insert, instead of the
-- index messages_room_user_seq (issue 16 item 1).
--
-- Sending a message reads the room up to it (DESIGN §8). Since 0021 the
-- position was computed: the greater of user_rooms.last_read_seq and the
-- seq of the member's newest message in the room, found through the index
-- messages_room_user_seq (room_id, user_id, seq), so that the send path
-- wrote nothing for it. But that index is one of the four btrees every
-- message enters. Measured on this machine (bench/README.md, "Issue 16,
-- round 6"): batches of 100 messages from 10 senders to one room through
-- chat_send_many, the sending backend's CPU per batch, two databases of
-- one cluster interleaved, 8 pairs: without the index and with this
-- migration's update 0.83-0.96 of with the index (median 0.93).
--
-- 1. user_rooms.last_sent_seq: the seq of the member's newest message in
--    the room (0 for none). The messages insert trigger (once per
--    statement) sets it from the statement's rows: one UPDATE of one row
--    per sender and room of the batch, in place of an index entry per
--    message. It is not last_read_seq: a send moves no stored mark, raises
--    no `read` and no chat_fcgi `r:` invalidation (user_rooms_fcgi_update
--    watches last_read_seq), exactly as before.
-- 2. The position is greatest(last_read_seq, last_sent_seq): chat_read_pos
--    (one primary-key probe of the member row), and the member row's two
--    columns where the room lists and receipts already read it
--    (chat_member_rooms_json, chat_room_objects_for, chat_room_reads).
--    Before, a page of rooms probed the index per room not read to its
--    end.
-- 3. Existing members get their newest message's seq, read through the
--    index before it is dropped. The tables are locked first (user_rooms,
--    then messages, the order of the send path) so that no message is
--    stored between that read and the new trigger.
--
-- Unchanged: the position only moves forward (a message deleted or
-- truncated away leaves it where it was: before, a truncated newest
-- message took the position back), and a new membership starts at the
-- room's last_seq (chat_read_start).

LOCK TABLE user_rooms, messages IN ACCESS EXCLUSIVE MODE;

ALTER TABLE user_rooms ADD COLUMN last_sent_seq bigint NOT NULL DEFAULT 0
    CONSTRAINT user_rooms_last_sent_seq_check CHECK (last_sent_seq >= 0);

UPDATE user_rooms ur SET last_sent_seq = s.seq
  FROM (SELECT u.user_id, u.room_id,
               (SELECT m.seq FROM messages m
                 WHERE m.room_id = u.room_id AND m.user_id = u.user_id
                 ORDER BY m.seq DESC LIMIT 1) AS seq
          FROM user_rooms u) s
 WHERE ur.user_id = s.user_id AND ur.room_id = s.room_id AND s.seq IS NOT NULL;

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
    -- Each sender has read the room up to their newest message in it: one
    -- row per sender and room of the statement, a member's only (a
    -- non-member's message moves nothing: they start at last_seq when they
    -- join). The rooms' rows are locked above and by chat_send_many, so
    -- two inserters of the same member row take it in turn, not crosswise.
    UPDATE user_rooms ur SET last_sent_seq = n.seq
      FROM (SELECT x.room_id, x.user_id, max(x.seq) AS seq FROM new_rows x
             WHERE x.user_id IS NOT NULL GROUP BY x.room_id, x.user_id) n
     WHERE ur.user_id = n.user_id AND ur.room_id = n.room_id AND ur.last_sent_seq < n.seq;
    RETURN NULL;
END
$$;

-- A member's read position: the greater of the mark and their newest
-- message (0021's function, one probe of the member row now).
CREATE OR REPLACE FUNCTION chat_read_pos(p_room text, p_user text, p_stored bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_stored IS NOT NULL THEN
        greatest(p_stored, coalesce((SELECT ur.last_sent_seq FROM user_rooms ur
                                      WHERE ur.user_id = p_user AND ur.room_id = p_room), 0))
    END
$$;

-- As in 0030, the position from the member row.
CREATE OR REPLACE FUNCTION chat_member_rooms_json(p_user text) RETURNS json
LANGUAGE plpgsql STABLE SET jit = off AS $$
BEGIN
    RETURN (
        -- The user's rooms, each with its member count (one index range per
        -- room) and the read position (0038: two columns of the member row).
        WITH my AS MATERIALIZED (
            SELECT ur.room_id, ur.role, ur.joined_at, ur.last_read_seq, r.name, r.description,
                   r.created_at, r.created_by, r.last_seq, r.visibility, r.change_seq,
                   (SELECT count(*) FROM user_rooms m WHERE m.room_id = ur.room_id) AS members,
                   greatest(ur.last_read_seq, ur.last_sent_seq) AS pos
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

-- As in 0032, the position from the member row.
CREATE OR REPLACE FUNCTION chat_room_objects_for(p_user text, p_rooms text[])
RETURNS TABLE (n bigint, id text, obj json)
LANGUAGE sql STABLE AS $$
    -- The rooms, each with its member count (one index range per room) and
    -- p_user's read position, computed once.
    WITH my AS MATERIALIZED (
        SELECT x.n, r.id AS room_id, ur.role, ur.last_read_seq, r.name, r.description,
               r.created_at, r.created_by, r.last_seq, r.visibility, r.change_seq,
               (SELECT count(*) FROM user_rooms m WHERE m.room_id = r.id) AS members,
               greatest(ur.last_read_seq, ur.last_sent_seq) AS pos
          FROM unnest(p_rooms) WITH ORDINALITY x(id, n)
          JOIN rooms r ON r.id = x.id
          -- One probe of the primary key per room: `OFFSET 0` keeps the
          -- subquery from being pulled up into a join, which the generic
          -- plan (ten rooms estimated) made a nested loop over all of
          -- p_user's member rows per room (125,000 comparisons for 500).
          LEFT JOIN LATERAL (SELECT u.role, u.last_read_seq, u.last_sent_seq FROM user_rooms u
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

-- As in 0021, the position from the member row.
CREATE OR REPLACE FUNCTION chat_room_reads(p_user text, p_room text, p_limit integer, p_offset integer,
                                           OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                           OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
    reads json;
BEGIN
    IF NOT chat_room_visible(p_user, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM user_rooms ur WHERE ur.user_id = p_user AND ur.room_id = p_room) THEN
        err := 'forbidden'; msg := 'join the room first'; field := 'room_id';
        RETURN;
    END IF;
    SELECT count(*) INTO total FROM user_rooms WHERE room_id = p_room;
    SELECT coalesce(json_agg(json_build_object('user_id', x.user_id, 'username', x.username,
                                               'last_read_seq', x.pos)
                             ORDER BY x.pos DESC, x.user_id), '[]'::json)
      INTO reads
      FROM (SELECT u.id AS user_id, u.username,
                   greatest(ur.last_read_seq, ur.last_sent_seq) AS pos
              FROM user_rooms ur JOIN users u ON u.id = ur.user_id
             WHERE ur.room_id = p_room
             ORDER BY 3 DESC, u.id LIMIT p_limit OFFSET p_offset) x;
    data := json_build_object('reads', reads, 'total', total,
                              'has_more', p_offset::bigint + p_limit < total);
END
$$;

DROP INDEX messages_room_user_seq;
