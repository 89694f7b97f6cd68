-- 0022_edit.sql -- editing messages, and the per-room change counter with its catch-up call.
--
-- DESIGN.md section 8, issue 14 item 1.
--
-- 1. messages.edited_at: the message JSON gains "edited_at" (null, or a
--    timestamp like "timestamp"). chat_message_edit replaces the text of
--    the caller's own live message; its seq stays. The room gets
--    message_updated (the message in its new state) under the room's row
--    lock, so the NOTIFY is in the room's order, like message_deleted.
-- 2. rooms.change_seq, the room's change counter: every edit and every
--    deletion takes the next number under the room's row lock, and stamps
--    it on the message (messages.change_seq: the message's latest change).
--    The Room object shows it; message_updated and message_deleted carry
--    it. A client that was offline compares a Room's change_seq with the
--    one it knew and asks chat_message_changes for the messages changed
--    since (GET /api/messages/{room_id}/changes): recovery by since_seq
--    covers only the messages after since_seq (docs/protocol.md).
--
-- Lock order (0014_lock_order.sql): the room's row, then the editor's
-- message rate-bucket lock (an edit spends a message token, as a send
-- does), then the message's row.

ALTER TABLE rooms
    ADD COLUMN change_seq bigint NOT NULL DEFAULT 0 CONSTRAINT rooms_change_seq_check CHECK (change_seq >= 0);

ALTER TABLE messages
    ADD COLUMN edited_at timestamptz,
    ADD COLUMN change_seq bigint CONSTRAINT messages_change_seq_check CHECK (change_seq > 0);

-- The catch-up read: a room's changed messages in change order. Only
-- changed messages are in it.
CREATE INDEX messages_room_change_idx ON messages (room_id, change_seq)
    WHERE change_seq IS NOT NULL;

-- As in 0020, with edited_at, and written compactly: json_build_object
-- puts " : " and ", " between members, row_to_json nothing, which more
-- than pays for the new member. Recovery's messages must fit a quarter of
-- the output queue (chat_enter_messages counts their bytes): 1000 short
-- messages did with 0020's form and would not with edited_at added to it.
CREATE OR REPLACE FUNCTION chat_message_json(m messages) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT row_to_json(x) FROM (
        SELECT m.id,
               m.room_id,
               m.seq,
               m.user_id,
               m.username,
               m.content,
               chat_ts(m."timestamp") AS "timestamp",
               m.client_id,
               m.deleted_at IS NOT NULL AS deleted,
               chat_ts(m.edited_at) AS edited_at) x
$$;

-- As in 0019, and the Room object gains change_seq.
CREATE OR REPLACE VIEW chat_room_objects AS
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
           'last_seq', r.last_seq,
           'visibility', r.visibility,
           'change_seq', r.change_seq) AS obj,
       r.visibility
  FROM rooms r;

-- The next change number of room p_room, whose row the caller has locked
-- (FOR NO KEY UPDATE): the number is taken in the room's order.
CREATE FUNCTION chat_room_change_next(p_room text) RETURNS bigint
LANGUAGE sql AS $$
    UPDATE rooms SET change_seq = change_seq + 1 WHERE id = p_room RETURNING change_seq
$$;

-- Replaces the text of message p_id of p_room by p_content (checked by
-- the caller as a send's text is): seq stays, edited_at is set, the
-- message takes the room's next change_seq and the room gets
-- message_updated. Only the author may edit (forbidden); not_found for a
-- room p_actor may not read or a message not in it; conflict for a
-- deleted message; rate_limited as a send would be (the same bucket,
-- msg:<user>). The same text again changes nothing and tells nobody.
-- data {message}.
CREATE FUNCTION chat_message_edit(p_actor text, p_room text, p_id bigint, p_content text,
                                  p_rate integer, p_window integer,
                                  OUT err text, OUT msg text, OUT field text,
                                  OUT retry integer, OUT data json)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    m messages%ROWTYPE;
    mj json;
    w integer;
    cs bigint;
    payload json;
BEGIN
    IF NOT chat_room_visible(p_actor, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    -- The lock of every send to the room: the NOTIFY goes in its order.
    PERFORM 1 FROM rooms r WHERE r.id = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF p_rate > 0 AND p_window > 0 THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('chat.rate:msg:' || p_actor, 0));
    END IF;
    SELECT * INTO m FROM messages x WHERE x.id = p_id AND x.room_id = p_room FOR UPDATE;
    IF NOT FOUND THEN
        err := 'not_found'; msg := 'message not found'; field := 'id';
        RETURN;
    END IF;
    IF m.user_id IS DISTINCT FROM p_actor THEN
        err := 'forbidden'; msg := 'only the author may edit this message'; field := 'id';
        RETURN;
    END IF;
    IF m.deleted_at IS NOT NULL THEN
        err := 'conflict'; msg := 'the message was deleted'; field := 'id';
        RETURN;
    END IF;
    IF m.content = p_content THEN
        data := json_build_object('message', chat_message_json(m));
        RETURN;
    END IF;
    w := chat_rate_take('msg:' || p_actor, p_rate, p_window);
    IF w > 0 THEN
        err := 'rate_limited'; msg := 'too many messages, slow down'; retry := w;
        RETURN;
    END IF;
    cs := chat_room_change_next(p_room);
    UPDATE messages SET content = p_content, edited_at = clock_timestamp(), change_seq = cs
     WHERE id = m.id RETURNING * INTO m;
    mj := chat_message_json(m);
    payload := json_build_object('type', 'message_updated', 'room_id', m.room_id, 'id', m.id,
                                 'seq', m.seq, 'change_seq', cs, 'message', mj);
    -- As a new_message (0009): a payload too long for NOTIFY goes without
    -- the message, which the bridges read back.
    IF octet_length(m.content) + coalesce(octet_length(m.client_id), 0) > 800
       AND octet_length(payload::text) > 7900 THEN
        payload := json_build_object('type', 'message_updated', 'room_id', m.room_id,
                                     'id', m.id, 'seq', m.seq, 'change_seq', cs);
    END IF;
    PERFORM chat_notify(payload);
    data := json_build_object('message', mj);
END
$$;

-- As in 0020, and a deletion takes the room's next change_seq, stamped on
-- the tombstone and carried by message_deleted.
CREATE OR REPLACE FUNCTION chat_message_delete(p_actor text, p_room text, p_id bigint,
                                               OUT err text, OUT msg text, OUT field text,
                                               OUT retry integer, OUT data json)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    m messages%ROWTYPE;
    mj json;
    cs bigint;
BEGIN
    IF p_actor IS NOT NULL AND NOT chat_room_visible(p_actor, p_room)
       AND NOT chat_may_moderate(p_actor, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    -- The lock of every send to the room: the NOTIFY goes in its order.
    PERFORM 1 FROM rooms r WHERE r.id = p_room FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    SELECT * INTO m FROM messages x WHERE x.id = p_id AND x.room_id = p_room FOR UPDATE;
    IF NOT FOUND THEN
        err := 'not_found'; msg := 'message not found'; field := 'id';
        RETURN;
    END IF;
    IF p_actor IS NOT NULL AND m.user_id IS DISTINCT FROM p_actor
       AND NOT chat_may_moderate(p_actor, p_room) THEN
        err := 'forbidden'; msg := 'only the author or a moderator may delete this message';
        field := 'id';
        RETURN;
    END IF;
    IF m.deleted_at IS NOT NULL THEN
        data := json_build_object('message', chat_message_json(m), 'deleted', false);
        RETURN;
    END IF;
    cs := chat_room_change_next(p_room);
    UPDATE messages SET content = NULL, deleted_at = now(), change_seq = cs
     WHERE id = m.id RETURNING * INTO m;
    mj := chat_message_json(m);
    PERFORM chat_notify(json_build_object('type', 'message_deleted', 'room_id', m.room_id,
                                          'id', m.id, 'seq', m.seq, 'change_seq', cs,
                                          'message', mj));
    data := json_build_object('message', mj, 'deleted', true);
END
$$;

-- The messages of p_room edited or deleted after change number p_since,
-- in their current state, in change order, at most p_limit (a message
-- changed twice is there once, at its latest change). data {changes,
-- change_seq, has_more}: change_seq is the since of the next call (the
-- last change listed when has_more, else the room's change_seq). Only for
-- who may read the room (not_found otherwise).
CREATE FUNCTION chat_message_changes(p_user text, p_room text, p_since bigint, p_limit integer,
                                     OUT err text, OUT msg text, OUT field text,
                                     OUT retry integer, OUT data json)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cur bigint;
    arr json;
    edge bigint;
    more boolean;
BEGIN
    IF NOT chat_room_visible(p_user, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    -- STABLE: both reads see one snapshot, so the counter and the list agree.
    SELECT r.change_seq INTO cur FROM rooms r WHERE r.id = p_room;
    SELECT coalesce(json_agg(chat_message_json(x.m) ORDER BY (x.m).change_seq), '[]'::json),
           max((x.m).change_seq)
      INTO arr, edge
      FROM (SELECT m FROM messages m
             WHERE m.room_id = p_room AND m.change_seq > p_since
             ORDER BY m.change_seq LIMIT p_limit) x;
    more := edge IS NOT NULL AND EXISTS (
        SELECT 1 FROM messages m WHERE m.room_id = p_room AND m.change_seq > edge);
    data := json_build_object('changes', arr,
                              'change_seq', CASE WHEN more THEN edge ELSE cur END,
                              'has_more', more);
END
$$;
