-- 0019_private_rooms.sql -- private rooms, direct messages, roles and bans (DESIGN §7).
--
-- 1. rooms.visibility: 'public' (as before), 'private' (members are added
--    by the owner or a moderator) or 'direct' (two users, POST /api/dm).
--    A private or direct room is invisible to non-members: every path
--    answers not_found for it exactly as for a room id that does not
--    exist (chat_room_visible). Nobody joins one by id.
-- 2. Room names are unique among PUBLIC rooms only (rooms_public_name_key
--    replaces rooms_name_lower_key): a private room never makes POST
--    /api/rooms answer room_exists, so creating rooms cannot probe for a
--    private room's name, and a private room does not squat a public name.
--    A direct room has no name (NULL); its JSON shows the other user's
--    username as "name" and the other user as "peer" {id, username}.
-- 3. user_rooms.role: 'owner', 'moderator' or 'member'. The creator of a
--    room is its owner; for existing rooms, created_by becomes the owner
--    when still a member (rooms whose creator left, and 'general', have
--    none). At most one owner per room. Direct rooms have two members and
--    no owner.
-- 4. room_bans: a banned user cannot join the room again (forbidden) until
--    re-added by POST /api/rooms/{id}/members.
-- 5. direct_rooms: the pair of a direct room, ordered (user_lo < user_hi)
--    and unique, so the same two users always get the same room; a
--    trigger refuses any third member.
-- 6. users.site_admin: site administrators moderate every room
--    (chat_may_moderate); set only by the administration tool, no API.
-- 7. The user_left NOTIFY carries reason 'left' | 'kicked' | 'banned', and
--    the removed user's connections are told by a room_removed NOTIFY
--    {user_id, room_id, reason}; an added user's by room_added {user_id,
--    room}.
--
-- The REST functions that did not know the caller (chat_room_get,
-- chat_rooms_list, chat_room_users, chat_messages_page, chat_rooms_json)
-- are replaced by versions that take the caller first; the old ones are
-- dropped, so an outdated binary fails loudly instead of showing a private
-- room. So are the unused chat_room_enter(5 arguments) and the
-- chat_room_create overloads without a visibility.

ALTER TABLE users ADD COLUMN site_admin boolean NOT NULL DEFAULT false;

ALTER TABLE rooms ADD COLUMN visibility text NOT NULL DEFAULT 'public'
    CONSTRAINT rooms_visibility_check CHECK (visibility IN ('public', 'private', 'direct'));
ALTER TABLE rooms ALTER COLUMN name DROP NOT NULL;
ALTER TABLE rooms ADD CONSTRAINT rooms_direct_name_check
    CHECK ((visibility = 'direct') = (name IS NULL));
DROP INDEX rooms_name_lower_key;
CREATE UNIQUE INDEX rooms_public_name_key ON rooms (lower(name)) WHERE visibility = 'public';

ALTER TABLE user_rooms ADD COLUMN role text NOT NULL DEFAULT 'member'
    CONSTRAINT user_rooms_role_check CHECK (role IN ('owner', 'moderator', 'member'));
UPDATE user_rooms ur SET role = 'owner'
  FROM rooms r WHERE r.id = ur.room_id AND r.created_by = ur.user_id;
CREATE UNIQUE INDEX user_rooms_one_owner_key ON user_rooms (room_id) WHERE role = 'owner';
GRANT UPDATE ON user_rooms TO chat_app;

CREATE TABLE room_bans (
    room_id   text NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id   text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    banned_by text REFERENCES users (id) ON DELETE SET NULL,
    banned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_bans_user_idx ON room_bans (user_id);
CREATE INDEX room_bans_banned_by_idx ON room_bans (banned_by);
GRANT SELECT, INSERT, DELETE ON room_bans TO chat_app;

CREATE TABLE direct_rooms (
    room_id text PRIMARY KEY REFERENCES rooms (id) ON DELETE CASCADE,
    user_lo text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_hi text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT direct_rooms_order_check CHECK (user_lo < user_hi),
    CONSTRAINT direct_rooms_pair_key UNIQUE (user_lo, user_hi)
);
CREATE INDEX direct_rooms_hi_idx ON direct_rooms (user_hi);
GRANT SELECT, INSERT ON direct_rooms TO chat_app;

-- A direct room takes no other members, whatever path inserts them.
CREATE FUNCTION chat_direct_members_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM direct_rooms d
                WHERE d.room_id = NEW.room_id AND NEW.user_id NOT IN (d.user_lo, d.user_hi)) THEN
        RAISE EXCEPTION 'a direct room takes no other members' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER user_rooms_direct_check BEFORE INSERT OR UPDATE OF user_id, room_id ON user_rooms
    FOR EACH ROW EXECUTE FUNCTION chat_direct_members_check();

-- The room object gains visibility; the view gains it as a column for the
-- lists' filters. Caller-independent: chat_room_personal adds the rest.
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
           'visibility', r.visibility) AS obj,
       r.visibility
  FROM rooms r;

-- ---- who may see, who may moderate --------------------------------------------------

-- Whether p_user (NULL: nobody in particular) may see the room: it exists
-- and is public, or p_user is a member.
CREATE FUNCTION chat_room_visible(p_user text, p_room text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM rooms r
         WHERE r.id = p_room
           AND (r.visibility = 'public'
                OR EXISTS (SELECT 1 FROM user_rooms ur
                            WHERE ur.room_id = r.id AND ur.user_id = p_user)));
END
$$;

-- Whether p_user may moderate the room (remove and ban members, add
-- members, delete others' messages): its owner or a moderator, or a site
-- administrator (every room that exists).
CREATE FUNCTION chat_may_moderate(p_user text, p_room text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM user_rooms ur
                    WHERE ur.user_id = p_user AND ur.room_id = p_room
                      AND ur.role IN ('owner', 'moderator'))
        OR (EXISTS (SELECT 1 FROM users u WHERE u.id = p_user AND u.site_admin)
            AND EXISTS (SELECT 1 FROM rooms r WHERE r.id = p_room));
END
$$;

-- Whether p_user may enter the room by its id (POST /api/join {room_id},
-- join_room): err not_found exactly as for a missing room when the room is
-- invisible to p_user, forbidden when p_user is banned from it.
CREATE FUNCTION chat_room_entry(p_user text, p_room text, OUT err text, OUT msg text,
                                OUT field text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT chat_room_visible(p_user, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
    ELSIF EXISTS (SELECT 1 FROM room_bans b WHERE b.room_id = p_room AND b.user_id = p_user) THEN
        err := 'forbidden'; msg := 'you are banned from this room'; field := 'room_id';
    END IF;
END
$$;

-- The lock every change of one (room, user) membership or ban takes first,
-- so that a ban and a join of the same user cannot cross.
CREATE FUNCTION chat_member_lock(p_room text, p_user text) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtextextended('chat.member:' || p_room || ':' || p_user, 0))
$$;

-- ---- room objects for a caller ---------------------------------------------------

-- The room object o (chat_room_objects.obj of p_room) as p_user sees it:
-- with "role" (p_role, null when not a member); a direct room is named
-- after the other user, who is also its "peer".
CREATE FUNCTION chat_room_personal(o json, p_role text, p_room text, p_user text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    peer users%ROWTYPE;
BEGIN
    IF o->>'visibility' = 'direct' THEN
        SELECT u.* INTO peer FROM direct_rooms d
          JOIN users u ON u.id = CASE WHEN d.user_lo = p_user THEN d.user_hi ELSE d.user_lo END
         WHERE d.room_id = p_room;
        RETURN (o::jsonb || jsonb_build_object(
                    'role', p_role, 'name', peer.username,
                    'peer', jsonb_build_object('id', peer.id, 'username', peer.username)))::json;
    END IF;
    -- Spliced as text: the keys keep their order, and no jsonb round trip.
    RETURN (left(o::text, -1) || ', "role" : ' || coalesce(to_json(p_role)::text, 'null')
            || '}')::json;
END
$$;

-- One room as p_user sees it (see chat_room_personal), or NULL when none.
CREATE FUNCTION chat_room_json_for(p_user text, p_room text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT chat_room_personal(o.obj, ur.role, o.id, p_user)
              FROM chat_room_objects o
              LEFT JOIN user_rooms ur ON ur.room_id = o.id AND ur.user_id = p_user
             WHERE o.id = p_room);
END
$$;

-- A page of the rooms p_user can see (public ones and p_user's own), by creation.
DROP FUNCTION chat_rooms_json(integer, integer);
CREATE FUNCTION chat_rooms_json(p_user text, p_limit integer, p_offset integer) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(json_agg(chat_room_personal(x.obj, x.role, x.id, p_user)
                                     ORDER BY x.created_at, x.id), '[]'::json)
              FROM (SELECT o.id, o.created_at, o.obj, ur.role FROM chat_room_objects o
                      LEFT JOIN user_rooms ur ON ur.room_id = o.id AND ur.user_id = p_user
                     WHERE o.visibility = 'public' OR ur.user_id IS NOT NULL
                     ORDER BY o.created_at, o.id
                     LIMIT p_limit OFFSET p_offset) x);
END
$$;

CREATE OR REPLACE FUNCTION chat_member_rooms_json(p_user text) RETURNS json
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(json_agg(chat_room_personal(o.obj, ur.role, o.id, p_user)
                                     ORDER BY ur.joined_at, o.id), '[]'::json)
              FROM user_rooms ur JOIN chat_room_objects o ON o.id = ur.room_id
             WHERE ur.user_id = p_user);
END
$$;

DROP FUNCTION chat_rooms_list(integer, integer);
CREATE FUNCTION chat_rooms_list(p_user text, p_limit integer, p_offset integer,
                                OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                OUT data json)
LANGUAGE plpgsql AS $$
BEGIN
    data := json_build_object(
        'rooms', chat_rooms_json(p_user, p_limit, p_offset),
        'total', (SELECT count(*) FROM rooms r
                   WHERE r.visibility = 'public'
                      OR EXISTS (SELECT 1 FROM user_rooms ur
                                  WHERE ur.room_id = r.id AND ur.user_id = p_user)));
END
$$;

DROP FUNCTION chat_room_get(text);
CREATE FUNCTION chat_room_get(p_user text, p_room text,
                              OUT err text, OUT msg text, OUT field text, OUT retry integer,
                              OUT data json)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT chat_room_visible(p_user, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    data := json_build_object('room', chat_room_json_for(p_user, p_room));
END
$$;

-- ---- memberships -----------------------------------------------------------------

-- Makes p_user a member of p_room with p_role, whatever the room's
-- visibility (the callers decide who may); tells the room user_joined.
-- Returns false when p_user already was a member.
CREATE FUNCTION chat_member_insert(p_user text, p_room text, p_role text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
BEGIN
    INSERT INTO user_rooms (user_id, room_id, role) VALUES (p_user, p_room, p_role)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT * INTO u FROM users WHERE id = p_user;
    PERFORM chat_notify(json_build_object(
        'type', 'user_joined', 'room_id', p_room, 'user', chat_user_json(u),
        'member_count', (SELECT count(*) FROM user_rooms WHERE room_id = p_room)));
    RETURN true;
END
$$;

-- Joining by id (POST /api/join, join_room): only a public room, and not
-- while banned from it. Returns whether a membership was made.
CREATE OR REPLACE FUNCTION chat_member_add(p_user text, p_room text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chat_member_lock(p_room, p_user);
    IF NOT EXISTS (SELECT 1 FROM rooms WHERE id = p_room AND visibility = 'public')
       OR EXISTS (SELECT 1 FROM room_bans WHERE room_id = p_room AND user_id = p_user) THEN
        RETURN false;
    END IF;
    RETURN chat_member_insert(p_user, p_room, 'member');
END
$$;

-- Ends p_user's membership of p_room for p_reason ('left', 'kicked',
-- 'banned'): the room gets user_left (with the reason and the membership's
-- number), the user's connections room_removed. Returns false when p_user
-- was no member.
CREATE FUNCTION chat_member_remove(p_user text, p_room text, p_reason text) RETURNS boolean
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
        'reason', p_reason, 'member_gen', coalesce(g, 0)));
    PERFORM chat_notify(json_build_object(
        'type', 'room_removed', 'user_id', p_user, 'room_id', p_room, 'reason', p_reason));
    RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION chat_member_remove(p_user text, p_room text) RETURNS boolean
LANGUAGE sql AS $$
    SELECT chat_member_remove(p_user, p_room, 'left')
$$;

-- POST /api/rooms/{id}/members {username}: the owner, a moderator or a
-- site administrator adds a member (and lifts a ban); the added user's
-- connections get room_added.
CREATE FUNCTION chat_room_member_add(p_actor text, p_room text, p_username text,
                                     OUT err text, OUT msg text, OUT field text,
                                     OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    r rooms%ROWTYPE;
    u users%ROWTYPE;
BEGIN
    SELECT * INTO r FROM rooms WHERE id = p_room;
    IF NOT FOUND OR NOT (chat_room_visible(p_actor, p_room) OR chat_may_moderate(p_actor, p_room)) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF NOT chat_may_moderate(p_actor, p_room) THEN
        err := 'forbidden'; msg := 'only the owner or a moderator may add members';
        RETURN;
    END IF;
    IF r.visibility = 'direct' THEN
        err := 'forbidden'; msg := 'a direct room takes no other members';
        RETURN;
    END IF;
    SELECT * INTO u FROM users WHERE lower(username) = lower(p_username);
    IF NOT FOUND THEN
        err := 'not_found'; msg := 'user not found'; field := 'username';
        RETURN;
    END IF;
    PERFORM chat_member_lock(p_room, u.id);
    IF EXISTS (SELECT 1 FROM user_rooms WHERE room_id = p_room AND user_id = u.id) THEN
        err := 'conflict'; msg := 'already a member of this room'; field := 'username';
        RETURN;
    END IF;
    DELETE FROM room_bans WHERE room_id = p_room AND user_id = u.id;
    PERFORM chat_member_insert(u.id, p_room, 'member');
    PERFORM chat_notify(json_build_object('type', 'room_added', 'user_id', u.id,
                                          'room', chat_room_json_for(u.id, p_room)));
    data := json_build_object('user', chat_user_json(u));
END
$$;

-- DELETE /api/rooms/{id}/members/{user_id}[?ban=true]: the owner, a
-- moderator or a site administrator removes (and bans) a member; anyone
-- removes themselves. The owner cannot be removed; a moderator removes no
-- other moderator; a direct room's members only leave it themselves. A ban
-- of a user who is no member still bans.
CREATE FUNCTION chat_room_member_remove(p_actor text, p_room text, p_target text, p_ban boolean,
                                        OUT err text, OUT msg text, OUT field text,
                                        OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    r       rooms%ROWTYPE;
    self    boolean := p_actor = p_target;
    may_mod boolean;
    role    text;
    reason  text;
    removed boolean;
BEGIN
    SELECT * INTO r FROM rooms WHERE id = p_room;
    may_mod := FOUND AND chat_may_moderate(p_actor, p_room);
    IF r.id IS NULL OR NOT (chat_room_visible(p_actor, p_room) OR may_mod) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF r.visibility = 'direct' AND (NOT self OR p_ban) THEN
        err := 'forbidden'; msg := 'only the members of a direct room may leave it';
        RETURN;
    END IF;
    IF NOT self AND NOT may_mod THEN
        err := 'forbidden'; msg := 'only the owner or a moderator may remove members';
        RETURN;
    END IF;
    IF self AND p_ban THEN
        err := 'forbidden'; msg := 'you cannot ban yourself';
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM users WHERE id = p_target) THEN
        err := 'not_found'; msg := 'user not found'; field := 'user_id';
        RETURN;
    END IF;
    PERFORM chat_member_lock(p_room, p_target);
    SELECT ur.role INTO role FROM user_rooms ur WHERE ur.room_id = p_room AND ur.user_id = p_target;
    IF role = 'owner' THEN
        err := 'forbidden'; msg := 'the owner cannot be removed from the room';
        RETURN;
    END IF;
    IF role = 'moderator' AND NOT self
       AND NOT EXISTS (SELECT 1 FROM user_rooms ur WHERE ur.room_id = p_room
                          AND ur.user_id = p_actor AND ur.role = 'owner')
       AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p_actor AND u.site_admin) THEN
        err := 'forbidden'; msg := 'only the owner may remove a moderator';
        RETURN;
    END IF;
    IF role IS NULL AND NOT p_ban THEN
        err := 'not_found'; msg := 'not a member of this room'; field := 'user_id';
        RETURN;
    END IF;
    reason := CASE WHEN p_ban THEN 'banned' WHEN self THEN 'left' ELSE 'kicked' END;
    IF p_ban THEN
        INSERT INTO room_bans (room_id, user_id, banned_by) VALUES (p_room, p_target, p_actor)
        ON CONFLICT (room_id, user_id) DO NOTHING;
    END IF;
    removed := chat_member_remove(p_target, p_room, reason);
    data := json_build_object('room_id', p_room, 'user_id', p_target, 'removed', removed,
                              'banned', p_ban, 'reason', reason);
END
$$;

-- PATCH /api/rooms/{id}/members/{user_id} {role}: the owner makes a member
-- a moderator or a moderator a member.
CREATE FUNCTION chat_room_member_role(p_actor text, p_room text, p_target text, p_role text,
                                      OUT err text, OUT msg text, OUT field text,
                                      OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u    users%ROWTYPE;
    role text;
BEGIN
    IF NOT (chat_room_visible(p_actor, p_room) OR chat_may_moderate(p_actor, p_room)) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF p_role IS NULL OR p_role NOT IN ('moderator', 'member') THEN
        err := 'validation_error'; msg := 'role must be "moderator" or "member"'; field := 'role';
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM user_rooms ur WHERE ur.room_id = p_room
                      AND ur.user_id = p_actor AND ur.role = 'owner') THEN
        err := 'forbidden'; msg := 'only the owner may change roles';
        RETURN;
    END IF;
    PERFORM chat_member_lock(p_room, p_target);
    SELECT ur.role INTO role FROM user_rooms ur WHERE ur.room_id = p_room AND ur.user_id = p_target;
    IF NOT FOUND THEN
        err := 'not_found'; msg := 'not a member of this room'; field := 'user_id';
        RETURN;
    END IF;
    IF role = 'owner' THEN
        err := 'forbidden'; msg := 'the owner''s role cannot change';
        RETURN;
    END IF;
    UPDATE user_rooms SET role = p_role WHERE room_id = p_room AND user_id = p_target;
    SELECT * INTO u FROM users WHERE id = p_target;
    data := json_build_object('user', chat_user_json(u), 'role', p_role);
END
$$;

-- POST /api/dm {username}: the direct room of the caller and that user,
-- made on first use (created true), else found, with both made members
-- again if one had left. Each member's connections get room_added when it
-- becomes theirs. Creating one takes a token from 'dm:<user>'.
CREATE FUNCTION chat_dm(p_actor text, p_username text, p_rate integer, p_window integer,
                        OUT err text, OUT msg text, OUT field text, OUT retry integer,
                        OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    peer    users%ROWTYPE;
    lo      text;
    hi      text;
    rid     text;
    created boolean := false;
    w       integer;
    uid     text;
BEGIN
    SELECT * INTO peer FROM users WHERE lower(username) = lower(p_username);
    IF NOT FOUND THEN
        err := 'not_found'; msg := 'user not found'; field := 'username';
        RETURN;
    END IF;
    IF peer.id = p_actor THEN
        err := 'validation_error'; msg := 'a direct room needs another user'; field := 'username';
        RETURN;
    END IF;
    lo := least(p_actor, peer.id);
    hi := greatest(p_actor, peer.id);
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.dm:' || lo || ':' || hi, 0));
    SELECT d.room_id INTO rid FROM direct_rooms d WHERE d.user_lo = lo AND d.user_hi = hi;
    IF NOT FOUND THEN
        w := chat_rate_take('dm:' || p_actor, p_rate, p_window);
        IF w > 0 THEN
            err := 'rate_limited'; msg := 'too many direct rooms opened, try again later';
            retry := w;
            RETURN;
        END IF;
        INSERT INTO rooms (name, visibility, created_by) VALUES (NULL, 'direct', p_actor)
        RETURNING id INTO rid;
        INSERT INTO direct_rooms (room_id, user_lo, user_hi) VALUES (rid, lo, hi);
        created := true;
    END IF;
    FOREACH uid IN ARRAY ARRAY[lo, hi] LOOP
        PERFORM chat_member_lock(rid, uid);
        IF chat_member_insert(uid, rid, 'member') THEN
            PERFORM chat_notify(json_build_object('type', 'room_added', 'user_id', uid,
                                                  'room', chat_room_json_for(uid, rid)));
        END IF;
    END LOOP;
    data := json_build_object('room', chat_room_json_for(p_actor, rid), 'created', created);
END
$$;

-- ---- the room functions, now for a caller -----------------------------------------

DROP FUNCTION chat_room_create(text, text, text);
DROP FUNCTION chat_room_create(text, text, text, integer, integer);
CREATE FUNCTION chat_room_create(p_user text, p_name text, p_description text,
                                 p_visibility text, p_rate integer, p_window integer,
                                 OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                 OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    r  rooms%ROWTYPE;
    rj json;
    w  integer;
BEGIN
    IF p_visibility IS NULL OR p_visibility NOT IN ('public', 'private') THEN
        err := 'validation_error'; msg := 'visibility must be "public" or "private"';
        field := 'visibility';
        RETURN;
    END IF;
    -- Names are unique among public rooms only: a private room answers no
    -- room_exists, so nobody learns its name by trying.
    IF p_visibility = 'public' THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('chat.room:' || lower(p_name), 0));
        IF EXISTS (SELECT 1 FROM rooms WHERE lower(name) = lower(p_name) AND visibility = 'public') THEN
            err := 'room_exists'; msg := 'a room with this name already exists';
            field := 'room_name';
            RETURN;
        END IF;
    END IF;
    w := chat_rate_take('room:' || p_user, p_rate, p_window);
    IF w > 0 THEN
        err := 'rate_limited'; msg := 'too many rooms created, try again later'; retry := w;
        RETURN;
    END IF;
    INSERT INTO rooms (name, description, created_by, visibility)
    VALUES (p_name, p_description, p_user, p_visibility) RETURNING * INTO r;
    INSERT INTO user_rooms (user_id, room_id, role) VALUES (p_user, r.id, 'owner');
    rj := chat_room_json_for(p_user, r.id);
    IF p_visibility = 'public' THEN
        -- One object for everyone: role null (the creator's is in the answer).
        PERFORM chat_notify(json_build_object(
            'type', 'room_created', 'room', chat_room_json_for(NULL, r.id)));
    ELSE
        PERFORM chat_notify(json_build_object('type', 'room_added', 'user_id', p_user,
                                              'room', rj));
    END IF;
    data := json_build_object('room', rj);
END
$$;

DROP FUNCTION chat_room_users(text);
DROP FUNCTION chat_room_users(text, integer, integer);
CREATE FUNCTION chat_room_users(p_user text, p_room text, p_limit integer, p_offset integer,
                                OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
    users json;
BEGIN
    IF NOT chat_room_visible(p_user, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    SELECT count(*) INTO total FROM user_rooms WHERE room_id = p_room;
    SELECT coalesce(json_agg(
               (chat_user_json(x.u)::jsonb || jsonb_build_object('room_joined_at', chat_ts(x.joined_at),
                                                                 'role', x.role))
               ORDER BY x.joined_at, (x.u).id), '[]'::json)
      INTO users
      FROM (SELECT u, ur.joined_at, ur.role FROM user_rooms ur JOIN users u ON u.id = ur.user_id
             WHERE ur.room_id = p_room
             ORDER BY ur.joined_at, u.id LIMIT p_limit OFFSET p_offset) x;
    data := json_build_object('users', users, 'total', total,
                              'has_more', p_offset::bigint + p_limit < total);
END
$$;

-- As in 0002, for a caller who can see the room.
DROP FUNCTION chat_room_enter(text, text, bigint, integer, integer);
DROP FUNCTION chat_messages_page(text, integer, bigint, bigint);
CREATE FUNCTION chat_messages_page(p_user text, p_room text, p_limit integer, p_before bigint,
                                   p_after bigint, OUT err text, OUT msg text, OUT field text,
                                   OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    arr  json;
    edge bigint;
    more boolean;
BEGIN
    IF NOT chat_room_visible(p_user, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    IF p_after IS NOT NULL THEN
        SELECT coalesce(json_agg(chat_message_json(x.m) ORDER BY (x.m).seq), '[]'::json),
               max((x.m).seq)
          INTO arr, edge
          FROM (SELECT m FROM messages m
                 WHERE m.room_id = p_room AND m.seq > p_after
                   AND (p_before IS NULL OR m.seq < p_before)
                 ORDER BY m.seq LIMIT p_limit) x;
        more := edge IS NOT NULL AND EXISTS (
            SELECT 1 FROM messages m WHERE m.room_id = p_room AND m.seq > edge
               AND (p_before IS NULL OR m.seq < p_before));
    ELSE
        SELECT coalesce(json_agg(chat_message_json(x.m) ORDER BY (x.m).seq), '[]'::json),
               min((x.m).seq)
          INTO arr, edge
          FROM (SELECT m FROM messages m
                 WHERE m.room_id = p_room AND (p_before IS NULL OR m.seq < p_before)
                 ORDER BY m.seq DESC LIMIT p_limit) x;
        more := edge IS NOT NULL AND EXISTS (
            SELECT 1 FROM messages m WHERE m.room_id = p_room AND m.seq < edge);
    END IF;
    data := json_build_object('messages', arr, 'has_more', more);
END
$$;

-- As in 0015, with chat_room_entry's checks under the membership lock
-- (a private room is entered by its members only; nobody enters a room
-- they are banned from) and the room as the caller sees it.
CREATE OR REPLACE FUNCTION chat_room_enter(p_user text, p_room text, p_since bigint, p_limit integer,
                                           p_recovery_max integer, p_members integer,
                                           p_max_bytes integer,
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
    PERFORM chat_member_lock(p_room, p_user);
    SELECT e.err, e.msg, e.field INTO err, msg, field FROM chat_room_entry(p_user, p_room) e;
    IF err IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT * INTO r FROM rooms WHERE id = p_room;
    PERFORM chat_member_add(p_user, p_room);
    SELECT coalesce(ur.gen, 0) INTO member_gen
      FROM user_rooms ur WHERE ur.user_id = p_user AND ur.room_id = p_room;
    -- The room object's last_seq is the line: the ack holds the messages
    -- up to it, everything after it arrives live.
    room := chat_room_json_for(p_user, p_room);
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

-- As in 0003, invisible rooms as missing ones; the owner cannot leave.
CREATE OR REPLACE FUNCTION chat_room_leave(p_user text, p_room text,
                                           OUT err text, OUT msg text, OUT field text,
                                           OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT chat_room_visible(p_user, p_room) THEN
        err := 'not_found'; msg := 'room not found'; field := 'room_id';
        RETURN;
    END IF;
    PERFORM chat_member_lock(p_room, p_user);
    IF EXISTS (SELECT 1 FROM user_rooms WHERE room_id = p_room AND user_id = p_user
                  AND role = 'owner') THEN
        err := 'forbidden'; msg := 'the owner cannot leave the room'; field := 'room_id';
        RETURN;
    END IF;
    data := json_build_object('room_id', p_room, 'left', chat_member_remove(p_user, p_room, 'left'));
END
$$;

-- As in 0008, invisible rooms as missing ones.
CREATE OR REPLACE FUNCTION chat_typing(p_user text, p_room text, p_is_typing boolean,
                                       OUT err text, OUT msg text, OUT field text,
                                       OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    uname text;
BEGIN
    IF NOT chat_room_visible(p_user, p_room) THEN
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

-- The end of every successful sign-in (0017), with the rooms as the user
-- sees them.
CREATE OR REPLACE FUNCTION chat_session_open(u users, p_room text, p_hash bytea, p_ttl integer)
RETURNS json
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sessions (token_hash, user_id, expires_at)
    VALUES (p_hash, u.id, now() + make_interval(secs => p_ttl));
    IF p_room IS NOT NULL THEN
        PERFORM chat_member_add(u.id, p_room);
    END IF;
    RETURN json_build_object(
        'user', chat_user_json(u),
        'rooms', chat_rooms_json(u.id, 50, 0),
        'room', CASE WHEN p_room IS NULL THEN NULL ELSE chat_room_json_for(u.id, p_room) END);
END
$$;

-- POST /api/join as in 0017 (a registered name is refused to guests), with
-- the room checked as chat_room_entry does.
CREATE OR REPLACE FUNCTION chat_join(p_username text, p_room text, p_hash bytea, p_ttl integer,
                                     p_caller text, p_addr text, p_rate integer, p_window integer,
                                     OUT err text, OUT msg text, OUT field text, OUT retry integer,
                                     OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    w integer;
BEGIN
    IF p_room IS NOT NULL THEN
        SELECT e.err, e.msg, e.field INTO err, msg, field
          FROM chat_room_entry((SELECT x.id FROM users x WHERE lower(x.username) = lower(p_username)),
                               p_room) e;
        IF err IS NOT NULL THEN
            RETURN;
        END IF;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.user:' || lower(p_username), 0));
    SELECT * INTO u FROM users WHERE lower(username) = lower(p_username);
    IF FOUND THEN
        IF u.registered AND u.id IS DISTINCT FROM p_caller THEN
            err := 'username_taken'; msg := 'username is registered: sign in with its password';
            field := 'username';
            RETURN;
        END IF;
        IF u.id IS DISTINCT FROM p_caller AND EXISTS (
               SELECT 1 FROM sessions s WHERE s.user_id = u.id AND s.expires_at > now()) THEN
            err := 'username_taken'; msg := 'username is in use by another session';
            field := 'username';
            RETURN;
        END IF;
        DELETE FROM sessions WHERE user_id = u.id AND expires_at <= now();
        UPDATE users SET last_seen = now() WHERE id = u.id RETURNING * INTO u;
    ELSE
        IF p_addr IS NOT NULL THEN
            w := chat_rate_take('join_new:' || p_addr, p_rate, p_window);
            IF w > 0 THEN
                err := 'rate_limited'; msg := 'too many new names from this address, try again later';
                retry := w;
                RETURN;
            END IF;
        END IF;
        INSERT INTO users (username, last_seen) VALUES (p_username, now()) RETURNING * INTO u;
    END IF;
    data := chat_session_open(u, p_room, p_hash, p_ttl);
END
$$;

-- POST /api/register's two steps as in 0017, with the room checked as
-- chat_room_entry does: a private room is not_found to whoever is not in it.
CREATE OR REPLACE FUNCTION chat_register_check(p_username text, p_room text, p_caller text, p_addr text,
                                    p_rate integer, p_window integer,
                                    OUT err text, OUT msg text, OUT field text,
                                    OUT retry integer, OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    w integer;
BEGIN
    IF p_room IS NOT NULL THEN
        SELECT e.err, e.msg, e.field INTO err, msg, field
          FROM chat_room_entry((SELECT x.id FROM users x WHERE lower(x.username) = lower(p_username)),
                               p_room) e;
        IF err IS NOT NULL THEN
            RETURN;
        END IF;
    END IF;
    SELECT * INTO u FROM users WHERE lower(username) = lower(p_username);
    msg := chat_register_refusal(u, p_caller);
    IF msg IS NOT NULL THEN
        err := 'username_taken'; field := 'username';
        RETURN;
    END IF;
    IF u.id IS NULL AND p_addr IS NOT NULL THEN
        w := chat_rate_take('join_new:' || p_addr, p_rate, p_window);
        IF w > 0 THEN
            err := 'rate_limited'; msg := 'too many new names from this address, try again later';
            retry := w;
            RETURN;
        END IF;
    END IF;
    data := '{}'::json;
END
$$;

CREATE OR REPLACE FUNCTION chat_register(p_username text, p_pw_hash text, p_room text, p_hash bytea,
                              p_ttl integer, p_caller text,
                              OUT err text, OUT msg text, OUT field text, OUT retry integer,
                              OUT data json)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
BEGIN
    IF p_room IS NOT NULL THEN
        SELECT e.err, e.msg, e.field INTO err, msg, field
          FROM chat_room_entry((SELECT x.id FROM users x WHERE lower(x.username) = lower(p_username)),
                               p_room) e;
        IF err IS NOT NULL THEN
            RETURN;
        END IF;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('chat.user:' || lower(p_username), 0));
    SELECT * INTO u FROM users WHERE lower(username) = lower(p_username);
    msg := chat_register_refusal(u, p_caller);
    IF msg IS NOT NULL THEN
        err := 'username_taken'; field := 'username';
        RETURN;
    END IF;
    IF u.id IS NULL THEN
        INSERT INTO users (username, last_seen, registered, password_hash)
        VALUES (p_username, now(), true, p_pw_hash) RETURNING * INTO u;
    ELSE
        DELETE FROM sessions WHERE user_id = u.id AND expires_at <= now();
        UPDATE users SET registered = true, password_hash = p_pw_hash, last_seen = now()
         WHERE id = u.id RETURNING * INTO u;
    END IF;
    data := chat_session_open(u, p_room, p_hash, p_ttl);
END
$$;

-- As in 0014, a private room answers a non-member not_found, as a missing
-- one does (a public room still answers forbidden).
CREATE OR REPLACE FUNCTION chat_send_batch(p_users text[], p_rooms text[], p_contents text[], p_client_ids text[], p_rates integer[], p_windows integer[])
 RETURNS TABLE(err text, msg text, field text, retry integer, data json)
 LANGUAGE plpgsql
AS $$
DECLARE
    n         integer := coalesce(cardinality(p_users), 0);
    room_ids  text[] := '{}';
    room_next bigint[] := '{}';
    k         integer;
    h         bigint;
    cur       bigint;
    uname     text;
    w         integer;
    m         messages%ROWTYPE;
    mj        json;
    payload   json;
BEGIN
    IF cardinality(p_rooms) IS DISTINCT FROM n OR cardinality(p_contents) IS DISTINCT FROM n
       OR cardinality(p_client_ids) IS DISTINCT FROM n OR cardinality(p_rates) IS DISTINCT FROM n
       OR cardinality(p_windows) IS DISTINCT FROM n THEN
        RAISE EXCEPTION 'chat_send_batch: arrays of different lengths';
    END IF;
    -- Every lock first, in the global order (see 0014_lock_order.sql).
    FOR h IN SELECT DISTINCT hashtextextended('chat.client:' || p_users[i] || ':' || p_client_ids[i], 0)
               FROM generate_subscripts(p_users, 1) i
              WHERE p_client_ids[i] IS NOT NULL ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(h);
    END LOOP;
    PERFORM 1 FROM rooms r WHERE r.id = ANY (p_rooms) ORDER BY r.id FOR NO KEY UPDATE;
    FOR h IN SELECT DISTINCT hashtextextended('chat.rate:msg:' || p_users[i], 0)
               FROM generate_subscripts(p_users, 1) i
              WHERE p_rates[i] > 0 AND p_windows[i] > 0 ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(h);
    END LOOP;
    FOR i IN 1 .. n LOOP
        err := NULL; msg := NULL; field := NULL; retry := NULL; data := NULL;
        SELECT u.username INTO uname
          FROM user_rooms ur JOIN users u ON u.id = ur.user_id
         WHERE ur.user_id = p_users[i] AND ur.room_id = p_rooms[i];
        IF NOT FOUND THEN
            IF NOT chat_room_visible(p_users[i], p_rooms[i]) THEN
                err := 'not_found'; msg := 'room not found'; field := 'room_id';
            ELSE
                err := 'forbidden'; msg := 'join the room before sending to it'; field := 'room_id';
            END IF;
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF p_client_ids[i] IS NOT NULL THEN
            SELECT * INTO m FROM messages x
             WHERE x.user_id = p_users[i] AND x.client_id = p_client_ids[i];
            IF FOUND THEN
                IF m.room_id <> p_rooms[i] OR m.content <> p_contents[i] THEN
                    err := 'conflict'; msg := 'client_id was already used for another message';
                    field := 'client_id';
                ELSE
                    data := json_build_object('message', chat_message_json(m), 'duplicate', true);
                END IF;
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;
        w := chat_rate_take('msg:' || p_users[i], p_rates[i], p_windows[i]);
        IF w > 0 THEN
            err := 'rate_limited'; msg := 'too many messages, slow down'; retry := w;
            RETURN NEXT;
            CONTINUE;
        END IF;
        k := array_position(room_ids, p_rooms[i]);
        IF k IS NULL THEN
            -- Locked above; read under the lock.
            SELECT r.last_seq INTO cur FROM rooms r WHERE r.id = p_rooms[i];
            room_ids := room_ids || p_rooms[i];
            room_next := room_next || cur;
            k := cardinality(room_ids);
        END IF;
        room_next[k] := room_next[k] + 1;
        INSERT INTO messages (room_id, seq, user_id, username, content, "timestamp", client_id)
        VALUES (p_rooms[i], room_next[k], p_users[i], uname, p_contents[i], clock_timestamp(),
                p_client_ids[i])
        RETURNING * INTO m;
        mj := chat_message_json(m);
        payload := json_build_object('type', 'new_message', 'room_id', m.room_id, 'seq', m.seq,
                                     'message', mj);
        -- As in 0009: below 800 bytes of content and client_id the payload
        -- cannot reach 7900 bytes.
        IF octet_length(m.content) + coalesce(octet_length(m.client_id), 0) > 800
           AND octet_length(payload::text) > 7900 THEN
            payload := json_build_object('type', 'new_message', 'room_id', m.room_id,
                                         'seq', m.seq);
        END IF;
        PERFORM chat_notify(payload);
        data := json_build_object('message', mj, 'duplicate', false);
        RETURN NEXT;
    END LOOP;
    UPDATE rooms r SET last_seq = x.seq
      FROM unnest(room_ids, room_next) AS x(id, seq)
     WHERE r.id = x.id;
END
$$;
