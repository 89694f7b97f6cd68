-- 0015_enter_snapshot.sql -- a join_room ack whose last_seq and messages agree.
--
-- chat_room_enter (0013) read the room row, then the messages, then built
-- the room object with chat_room_json, which reads the view
-- chat_room_objects in a statement of its own. Under READ COMMITTED each
-- statement sees the commits made before it started, so a message that
-- committed in between could make the ack's room.last_seq N+1 while its
-- messages stopped at N: the bridge then subscribed from N+1 and the
-- connection never got message N+1 live (found by the soak test).
--
-- Now the room object is built first, its last_seq decides, and the
-- messages are read up to that seq and no further: every message after it
-- arrives live.

CREATE OR REPLACE FUNCTION chat_enter_messages(p_room text, p_since bigint, p_limit integer,
                                               p_recovery_max integer, p_last bigint,
                                               p_max_bytes integer,
                                               OUT messages json, OUT recovered boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    total bigint;
BEGIN
    IF p_since IS NOT NULL THEN
        recovered := p_last - least(p_since, p_last) <= p_recovery_max;
    END IF;
    IF recovered THEN
        SELECT coalesce(json_agg(x.j ORDER BY x.seq), '[]'::json),
               coalesce(sum(octet_length(x.j::text)), 0)
          INTO messages, total
          FROM (SELECT m.seq, chat_message_json(m) AS j FROM messages m
                 WHERE m.room_id = p_room AND m.seq > p_since AND m.seq <= p_last
                 ORDER BY m.seq LIMIT greatest(p_recovery_max, 1)) x;
        IF total <= p_max_bytes THEN
            RETURN;
        END IF;
        recovered := false;
    END IF;
    SELECT coalesce(json_agg(y.j ORDER BY y.seq), '[]'::json)
      INTO messages
      FROM (SELECT x.seq, x.j,
                   sum(octet_length(x.j::text)) OVER (ORDER BY x.seq DESC) AS upto,
                   row_number() OVER (ORDER BY x.seq DESC) AS n
              FROM (SELECT m.seq, chat_message_json(m) AS j FROM messages m
                     WHERE m.room_id = p_room AND m.seq <= p_last
                     ORDER BY m.seq DESC LIMIT p_limit) x) y
     WHERE y.n = 1 OR y.upto <= p_max_bytes;
END
$$;

CREATE OR REPLACE FUNCTION chat_room_enter(p_user text, p_room text, p_since bigint,
                                           p_limit integer, p_recovery_max integer,
                                           p_members integer, p_max_bytes integer,
                                           OUT err text, OUT msg text, OUT field text,
                                           OUT retry integer, OUT data json,
                                           OUT member_gen bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r         rooms%ROWTYPE;
    room      json;
    last      bigint;
    arr       json;
    recovered boolean;
    members   json;
    more      boolean;
BEGIN
    SELECT * INTO r FROM rooms WHERE id = p_room;
    IF NOT FOUND THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    PERFORM chat_member_add(p_user, p_room);
    SELECT coalesce(ur.gen, 0) INTO member_gen
      FROM user_rooms ur WHERE ur.user_id = p_user AND ur.room_id = p_room;
    -- The room object's last_seq is the line: the ack holds the messages
    -- up to it, everything after it arrives live.
    room := chat_room_json(r);
    last := (room->>'last_seq')::bigint;
    SELECT e.messages, e.recovered INTO arr, recovered
      FROM chat_enter_messages(p_room, p_since, p_limit, p_recovery_max, last,
                               p_max_bytes) e;
    SELECT coalesce(json_agg(chat_user_json(x.u) ORDER BY x.joined_at, (x.u).id)
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
