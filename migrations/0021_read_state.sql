-- 0021_read_state.sql -- read positions, unread counts, read receipts and search (DESIGN §8).
--
-- 1. A member's read position in the room only moves forward. It is the
--    greater of user_rooms.last_read_seq (moved by chat_mark_read) and the
--    seq of the member's newest message in the room (chat_read_pos): sending
--    a message reads the room up to it (DESIGN §8) without a write on the
--    send path, through the index messages_room_user_seq. A new membership
--    starts at the room's last_seq (trigger user_rooms_read_start): history
--    from before one joined is not news. Existing memberships start at
--    their room's last_seq, so an upgrade shows no old message as unread.
-- 2. unread (on every Room object of a member, null for a non-member) is
--    computed, not stored and not counted by scanning messages:
--        last_seq - position - (deleted messages with seq in
--        (position, last_seq])
--    Own messages never count because a member's own messages are never
--    after their read position (1.). Deleted messages (the tombstones of
--    0020, content NULL) are counted through the partial index
--    messages_deleted, which holds only them. Per room that is a
--    primary-key probe of user_rooms and two index probes, whatever the
--    number of messages.
-- 3. chat_mark_read: members only (a public room's non-member: forbidden;
--    a room one cannot see: not_found, as elsewhere); a seq beyond the
--    room's last_seq is clamped to it, a seq at or below the position
--    changes nothing and answers the position. A move sends the NOTIFY
--    read {user_id, room_id, last_read_seq, unread} to the user's
--    connections on every bridge, and in a room of at most 50 members
--    (chat_receipts_max) read_receipt {room_id, user_id, username,
--    last_read_seq} to the room's subscribers (the "seen by" line).
-- 4. chat_room_reads: the members' read positions (receipts), a page.
-- 5. chat_messages_search: full-text search of one room's live messages
--    with the 'simple' configuration (no stemming, no stop words: it works
--    the same for every language), through a GIN index on
--    to_tsvector('simple', content); the query goes through
--    websearch_to_tsquery, which accepts any text without a syntax error.
--    A tombstone's NULL content matches nothing.

ALTER TABLE user_rooms ADD COLUMN last_read_seq bigint NOT NULL DEFAULT 0
    CONSTRAINT user_rooms_last_read_seq_check CHECK (last_read_seq >= 0);

UPDATE user_rooms ur SET last_read_seq = r.last_seq FROM rooms r WHERE r.id = ur.room_id;

-- A new member has read the room up to now.
CREATE FUNCTION chat_read_start() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.last_read_seq := greatest(NEW.last_read_seq,
                                  coalesce((SELECT r.last_seq FROM rooms r WHERE r.id = NEW.room_id), 0));
    RETURN NEW;
END
$$;

CREATE TRIGGER user_rooms_read_start BEFORE INSERT ON user_rooms
    FOR EACH ROW EXECUTE FUNCTION chat_read_start();

-- The tombstones, for the unread counts: a partial index, empty until
-- messages are deleted.
CREATE INDEX messages_deleted ON messages (room_id, seq) WHERE content IS NULL;

-- The unread count of a member whose position is p_read in p_room, whose
-- last_seq is p_last; NULL for a non-member (p_read NULL).
CREATE FUNCTION chat_unread(p_room text, p_last bigint, p_read bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_read IS NOT NULL THEN
        greatest(p_last - p_read
                 - (SELECT count(*) FROM messages d
                     WHERE d.room_id = p_room AND d.seq > p_read AND d.seq <= p_last
                       AND d.content IS NULL), 0)
    END
$$;

-- A member's newest message in a room: the read position sending gives.
CREATE INDEX messages_room_user_seq ON messages (room_id, user_id, seq);

-- p_user's read position in p_room when their stored one is p_stored
-- (NULL for a non-member: NULL): the greater of it and their newest message.
CREATE FUNCTION chat_read_pos(p_room text, p_user text, p_stored bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_stored IS NOT NULL THEN
        greatest(p_stored, coalesce((SELECT m.seq FROM messages m
                                      WHERE m.room_id = p_room AND m.user_id = p_user
                                      ORDER BY m.seq DESC LIMIT 1), 0))
    END
$$;

-- The rooms whose members see each other's read positions live (read_receipt).
CREATE FUNCTION chat_receipts_max() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 50 $$;

-- ---- the Room object gains unread ------------------------------------------------

-- As in 0019, with "unread" (null for a non-member); p_read is the stored position.
CREATE FUNCTION chat_room_personal(o json, p_role text, p_room text, p_user text, p_read bigint)
RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    peer   users%ROWTYPE;
    unread bigint := chat_unread(p_room, (o->>'last_seq')::bigint,
                                 chat_read_pos(p_room, p_user, p_read));
BEGIN
    IF o->>'visibility' = 'direct' THEN
        SELECT u.* INTO peer FROM direct_rooms d
          JOIN users u ON u.id = CASE WHEN d.user_lo = p_user THEN d.user_hi ELSE d.user_lo END
         WHERE d.room_id = p_room;
        RETURN (o::jsonb || jsonb_build_object(
                    'role', p_role, 'unread', unread, 'name', peer.username,
                    'peer', jsonb_build_object('id', peer.id, 'username', peer.username)))::json;
    END IF;
    -- Spliced as text: the keys keep their order, and no jsonb round trip.
    RETURN (left(o::text, -1) || ', "role" : ' || coalesce(to_json(p_role)::text, 'null')
            || ', "unread" : ' || coalesce(unread::text, 'null') || '}')::json;
END
$$;

-- The 0019 form, for callers that have no read position at hand: looks it up.
CREATE OR REPLACE FUNCTION chat_room_personal(o json, p_role text, p_room text, p_user text)
RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT chat_room_personal(o, p_role, p_room, p_user,
                              (SELECT ur.last_read_seq FROM user_rooms ur
                                WHERE ur.user_id = p_user AND ur.room_id = p_room))
$$;

CREATE OR REPLACE FUNCTION chat_room_json_for(p_user text, p_room text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT chat_room_personal(o.obj, ur.role, o.id, p_user, ur.last_read_seq)
              FROM chat_room_objects o
              LEFT JOIN user_rooms ur ON ur.room_id = o.id AND ur.user_id = p_user
             WHERE o.id = p_room);
END
$$;

CREATE OR REPLACE FUNCTION chat_rooms_json(p_user text, p_limit integer, p_offset integer)
RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(json_agg(chat_room_personal(x.obj, x.role, x.id, p_user,
                                                        x.last_read_seq)
                                     ORDER BY x.created_at, x.id), '[]'::json)
              FROM (SELECT o.id, o.created_at, o.obj, ur.role, ur.last_read_seq
                      FROM chat_room_objects o
                      LEFT JOIN user_rooms ur ON ur.room_id = o.id AND ur.user_id = p_user
                     WHERE o.visibility = 'public' OR ur.user_id IS NOT NULL
                     ORDER BY o.created_at, o.id
                     LIMIT p_limit OFFSET p_offset) x);
END
$$;

CREATE OR REPLACE FUNCTION chat_member_rooms_json(p_user text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(json_agg(chat_room_personal(o.obj, ur.role, o.id, p_user,
                                                        ur.last_read_seq)
                                     ORDER BY ur.joined_at, o.id), '[]'::json)
              FROM user_rooms ur JOIN chat_room_objects o ON o.id = ur.room_id
             WHERE ur.user_id = p_user);
END
$$;

-- ---- read positions ----------------------------------------------------------------

-- Moves p_user's read position in p_room forward to p_seq (at most the
-- room's last_seq). data: {room_id, last_read_seq, unread}, last_read_seq
-- being the position (chat_read_pos). A move sends read {user_id,
-- room_id, last_read_seq, unread} to the user's connections, and in a
-- small room read_receipt {room_id, user_id, username, last_read_seq} to
-- the room.
CREATE FUNCTION chat_mark_read(p_user text, p_room text, p_seq bigint,
                               OUT err text, OUT msg text, OUT field text, OUT retry integer,
                               OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    last   bigint;
    stored bigint;
    before bigint;
    pos    bigint;
    n      bigint;
BEGIN
    IF NOT chat_room_visible(p_user, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF p_seq IS NULL OR p_seq < 0 THEN
        err := 'validation_error'; msg := 'seq must be a non-negative integer'; field := 'seq';
        RETURN;
    END IF;
    SELECT r.last_seq INTO last FROM rooms r WHERE r.id = p_room;
    SELECT ur.last_read_seq INTO stored FROM user_rooms ur
     WHERE ur.user_id = p_user AND ur.room_id = p_room;
    IF NOT FOUND THEN
        err := 'forbidden'; msg := 'join the room first'; field := 'room_id';
        RETURN;
    END IF;
    before := chat_read_pos(p_room, p_user, stored);
    pos := before;
    IF least(p_seq, last) > before THEN
        UPDATE user_rooms ur SET last_read_seq = least(p_seq, last)
         WHERE ur.user_id = p_user AND ur.room_id = p_room AND ur.last_read_seq < least(p_seq, last)
        RETURNING ur.last_read_seq INTO stored;
        IF FOUND THEN
            pos := greatest(before, stored);
        END IF;
    END IF;
    n := chat_unread(p_room, greatest(last, pos), pos);
    IF pos > before THEN
        PERFORM chat_notify(json_build_object('type', 'read', 'user_id', p_user,
                                              'room_id', p_room, 'last_read_seq', pos,
                                              'unread', n));
        IF (SELECT count(*) FROM (SELECT 1 FROM user_rooms ur WHERE ur.room_id = p_room
                                   LIMIT chat_receipts_max() + 1) x) <= chat_receipts_max() THEN
            PERFORM chat_notify(json_build_object('type', 'read_receipt', 'room_id', p_room,
                                                  'user_id', p_user,
                                                  'username', (SELECT u.username FROM users u
                                                                WHERE u.id = p_user),
                                                  'last_read_seq', pos));
        END IF;
    END IF;
    data := json_build_object('room_id', p_room, 'last_read_seq', pos, 'unread', n);
END
$$;

-- The read positions (chat_read_pos) of p_room's members (read receipts),
-- furthest first, a page of p_limit from p_offset; members only.
CREATE FUNCTION chat_room_reads(p_user text, p_room text, p_limit integer, p_offset integer,
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
                   chat_read_pos(p_room, u.id, ur.last_read_seq) AS pos
              FROM user_rooms ur JOIN users u ON u.id = ur.user_id
             WHERE ur.room_id = p_room
             ORDER BY 3 DESC, u.id LIMIT p_limit OFFSET p_offset) x;
    data := json_build_object('reads', reads, 'total', total,
                              'has_more', p_offset::bigint + p_limit < total);
END
$$;

-- ---- search --------------------------------------------------------------------------

CREATE INDEX messages_content_fts ON messages USING gin (to_tsvector('simple', content));

-- The newest p_limit live messages of p_room matching p_q (websearch
-- syntax: words, "phrases", or, -not), newest first, for a caller who may
-- read the room. Planned for each query (plan_cache_mode): a rare word
-- goes through the GIN index, a common one walks the room's newest
-- messages backwards until p_limit match.
CREATE FUNCTION chat_messages_search(p_user text, p_room text, p_q text, p_limit integer,
                                     OUT err text, OUT msg text, OUT field text,
                                     OUT retry integer, OUT data json)
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
SET client_min_messages = warning
AS $$
DECLARE
    q   tsquery := websearch_to_tsquery('simple', p_q);
    arr json;
BEGIN
    IF NOT chat_room_visible(p_user, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    SELECT coalesce(json_agg(chat_message_json(x.m) ORDER BY (x.m).seq DESC), '[]'::json)
      INTO arr
      FROM (SELECT m FROM messages m
             WHERE m.room_id = p_room AND to_tsvector('simple', m.content) @@ q
             ORDER BY m.seq DESC LIMIT p_limit) x;
    data := json_build_object('messages', arr);
END
$$;
