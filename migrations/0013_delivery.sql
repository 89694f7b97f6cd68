-- 0013_delivery.sql -- membership generations, a bounded join_room ack,
-- paged member lists.
--
-- 1. Every membership gets a number from a sequence when it is made
--    (user_rooms.gen). The user_left NOTIFY names the membership it ended
--    (member_gen) and join_room answers with the one it found or made: a
--    bridge then ends only the subscriptions of that membership or older
--    ones, so a user_left that arrives after the acks of a later join_room
--    (NOTIFYs and query results travel on different connections) no longer
--    unsubscribes the fresh one. Two memberships of one user in one room
--    cannot overlap (primary key), and the later one takes its number
--    after the earlier one existed, so the numbers of a (user, room) grow.
--    Memberships from before this migration have gen NULL, read as 0.
-- 2. chat_room_enter takes a members page size and a byte budget: the ack
--    holds the first page of members (with members_has_more) and at most
--    about p_max_bytes of messages; a recovery past it answers
--    recovered:false with the newest messages that fit, so a huge room or
--    a huge recovery no longer overflows the connection's output queue.
-- 3. chat_room_users pages (limit/offset) and tells total and has_more.

CREATE SEQUENCE user_rooms_gen_seq;
ALTER TABLE user_rooms ADD COLUMN gen bigint;
ALTER TABLE user_rooms ALTER COLUMN gen SET DEFAULT nextval('user_rooms_gen_seq');
GRANT USAGE ON SEQUENCE user_rooms_gen_seq TO chat_app;

-- As in 0002, plus the membership number in the user_left NOTIFY.
CREATE OR REPLACE FUNCTION chat_member_remove(p_user text, p_room text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    g bigint;
BEGIN
    DELETE FROM user_rooms WHERE user_id = p_user AND room_id = p_room RETURNING gen INTO g;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT * INTO u FROM users WHERE id = p_user;
    PERFORM chat_notify(json_build_object(
        'type', 'user_left', 'room_id', p_room, 'user', chat_user_json(u),
        'member_count', (SELECT count(*) FROM user_rooms WHERE room_id = p_room),
        'member_gen', coalesce(g, 0)));
    RETURN true;
END
$$;

-- The messages of a join_room ack: with p_since, every message after it
-- (at most p_recovery_max) when they take at most p_max_bytes of JSON
-- (recovered true), else recovered false and, as without p_since, the
-- newest p_limit messages that fit in p_max_bytes (at least the newest).
CREATE FUNCTION chat_enter_messages(p_room text, p_since bigint, p_limit integer,
                                    p_recovery_max integer, p_last bigint, p_max_bytes integer,
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
                 WHERE m.room_id = p_room AND m.seq > p_since
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
                     WHERE m.room_id = p_room
                     ORDER BY m.seq DESC LIMIT p_limit) x) y
     WHERE y.n = 1 OR y.upto <= p_max_bytes;
END
$$;

-- join_room (0003's chat_room_enter, bounded): membership, the room, the
-- first p_members members (members_has_more), the messages of
-- chat_enter_messages, and the membership's number (OUT member_gen, for
-- the bridge only).
CREATE FUNCTION chat_room_enter(p_user text, p_room text, p_since bigint, p_limit integer,
                                p_recovery_max integer, p_members integer, p_max_bytes integer,
                                OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                OUT data json, OUT member_gen bigint)
LANGUAGE plpgsql AS $$
DECLARE
    r         rooms%ROWTYPE;
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
    -- Read last_seq again: the snapshot of this statement decides which
    -- messages the ack holds; everything after it arrives live.
    SELECT * INTO r FROM rooms WHERE id = p_room;
    SELECT e.messages, e.recovered INTO arr, recovered
      FROM chat_enter_messages(p_room, p_since, p_limit, p_recovery_max, r.last_seq,
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
    data := json_build_object('room', chat_room_json(r), 'members', members,
                              'members_has_more', more,
                              'messages', arr, 'recovered', recovered);
END
$$;

-- GET /api/users/{room_id}?limit&offset: one page of members in the order
-- they joined, with the total.
CREATE FUNCTION chat_room_users(p_room text, p_limit integer, p_offset integer,
                                OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
    users json;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM rooms WHERE id = p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    SELECT count(*) INTO total FROM user_rooms WHERE room_id = p_room;
    SELECT coalesce(json_agg(
               (chat_user_json(x.u)::jsonb || jsonb_build_object('room_joined_at', chat_ts(x.joined_at)))
               ORDER BY x.joined_at, (x.u).id), '[]'::json)
      INTO users
      FROM (SELECT u, ur.joined_at FROM user_rooms ur JOIN users u ON u.id = ur.user_id
             WHERE ur.room_id = p_room
             ORDER BY ur.joined_at, u.id LIMIT p_limit OFFSET p_offset) x;
    data := json_build_object('users', users, 'total', total,
                              'has_more', p_offset::bigint + p_limit < total);
END
$$;
