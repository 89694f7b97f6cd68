-- 0008_typing_stop.sql -- "stopped typing" may follow a leave.
--
-- A connection that leaves a room while typing tells the room it stopped,
-- after its membership is gone; only starting to type needs membership.
CREATE OR REPLACE FUNCTION chat_typing(p_user text, p_room text, p_is_typing boolean,
                                       OUT err text, OUT msg text, OUT field text,
                                       OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    uname text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rooms WHERE id = p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF p_is_typing AND NOT EXISTS (
           SELECT 1 FROM user_rooms WHERE user_id = p_user AND room_id = p_room) THEN
        err := 'forbidden'; msg := 'join the room first'; field := 'room_id';
        RETURN;
    END IF;
    SELECT username INTO uname FROM users WHERE id = p_user;
    data := json_build_object('room_id', p_room, 'user_id', p_user, 'username', uname,
                              'is_typing', p_is_typing);
    PERFORM chat_notify(json_build_object('type', 'typing', 'room_id', p_room,
                                          'user_id', p_user, 'username', uname,
                                          'is_typing', p_is_typing));
END
$$;
