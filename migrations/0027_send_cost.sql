-- 0027_send_cost.sql -- a durable message's cost in PostgreSQL: the foreign
-- keys of messages checked once per statement instead of once per row
-- (issue 16 item 1).
--
-- perf of the backend running chat_send_batch (bench/README.md, "Issue 16,
-- round 2: durable sends"): the two foreign keys of messages cost an SPI
-- query per inserted row and key (RI_FKey_check_ins: its executor start,
-- a FOR KEY SHARE lock of the rooms row and of the users row), together
-- about a fifth of the sending backend. A batch of 256 messages to one room
-- from 10 senders locked the same 11 rows 512 times.
--
-- The constraints go; triggers keep the same integrity, with the same
-- locks and answers, per statement:
--
--   * INSERT INTO messages: after the statement, every distinct room_id and
--     (non-NULL) user_id of the new rows is locked FOR KEY SHARE, as the
--     foreign key's check locks it, and a key with no row is refused with
--     the foreign key's error (SQLSTATE 23503, same message and detail).
--     The lock makes a concurrent DELETE of the room or user wait for the
--     inserting transaction, whose rows its trigger below then sees; a
--     DELETE that committed first leaves no row to lock: refused.
--   * UPDATE of messages that changes room_id, or user_id to another
--     non-NULL value (nothing does; an operator's SQL could): the same
--     check for that row.
--   * DELETE FROM rooms: the rooms' messages are deleted (ON DELETE
--     CASCADE), DELETE FROM users: their messages' user_id becomes NULL
--     (ON DELETE SET NULL), each as one statement over the deleted rows,
--     run as the tables' owner as the foreign key's actions are.
--   * UPDATE of rooms.id or users.id while messages refer to it: refused
--     (ON UPDATE NO ACTION). TRUNCATE of rooms or users stays refused by
--     their other foreign keys (user_rooms, sessions, ...).
--
-- The names of the old constraints stay in the errors, so that a reader of
-- a log finds what they were.

ALTER TABLE messages
    DROP CONSTRAINT messages_room_id_fkey,
    DROP CONSTRAINT messages_user_id_fkey;

-- The foreign key's error for key p_val of column p_col.
CREATE FUNCTION chat_messages_fk_fail(p_col text, p_val text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'insert or update on table "messages" violates foreign key constraint "messages_%_fkey"',
                    p_col
          USING ERRCODE = 'foreign_key_violation',
                DETAIL = format('Key (%s)=(%s) is not present in table "%s".', p_col, p_val,
                                CASE p_col WHEN 'room_id' THEN 'rooms' ELSE 'users' END),
                TABLE = 'messages', CONSTRAINT = 'messages_' || p_col || '_fkey';
END
$$;

-- After INSERT INTO messages, once per statement: lock every referenced
-- room and user FOR KEY SHARE (sorted: one order for every inserter), then
-- refuse a key that has no row.
CREATE FUNCTION chat_messages_refs_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    bad text;
BEGIN
    PERFORM 1 FROM rooms r WHERE r.id IN (SELECT n.room_id FROM new_rows n)
     ORDER BY r.id FOR KEY SHARE;
    SELECT n.room_id INTO bad FROM new_rows n
     WHERE NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = n.room_id) LIMIT 1;
    IF FOUND THEN
        PERFORM chat_messages_fk_fail('room_id', bad);
    END IF;
    PERFORM 1 FROM users u WHERE u.id IN (SELECT n.user_id FROM new_rows n)
     ORDER BY u.id FOR KEY SHARE;
    SELECT n.user_id INTO bad FROM new_rows n
     WHERE n.user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = n.user_id)
     LIMIT 1;
    IF FOUND THEN
        PERFORM chat_messages_fk_fail('user_id', bad);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_refs_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chat_messages_refs_insert();

-- After an UPDATE of messages that points a row elsewhere: the same check.
CREATE FUNCTION chat_messages_refs_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NEW.room_id IS DISTINCT FROM OLD.room_id
       AND NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = NEW.room_id FOR KEY SHARE) THEN
        PERFORM chat_messages_fk_fail('room_id', NEW.room_id);
    END IF;
    IF NEW.user_id IS NOT NULL AND NEW.user_id IS DISTINCT FROM OLD.user_id
       AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = NEW.user_id FOR KEY SHARE) THEN
        PERFORM chat_messages_fk_fail('user_id', NEW.user_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_refs_update AFTER UPDATE ON messages
    FOR EACH ROW
    WHEN (NEW.room_id IS DISTINCT FROM OLD.room_id
          OR (NEW.user_id IS NOT NULL AND NEW.user_id IS DISTINCT FROM OLD.user_id))
    EXECUTE FUNCTION chat_messages_refs_update();

-- ON DELETE CASCADE of messages.room_id.
CREATE FUNCTION chat_rooms_deleted_messages() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    DELETE FROM messages m USING old_rows o WHERE m.room_id = o.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER rooms_messages_delete AFTER DELETE ON rooms
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chat_rooms_deleted_messages();

-- ON DELETE SET NULL of messages.user_id.
CREATE FUNCTION chat_users_deleted_messages() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    UPDATE messages m SET user_id = NULL FROM old_rows o WHERE m.user_id = o.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_messages_delete AFTER DELETE ON users
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION chat_users_deleted_messages();

-- ON UPDATE NO ACTION: a referenced id does not change.
CREATE FUNCTION chat_messages_key_update() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_TABLE_NAME = 'rooms' THEN
        IF EXISTS (SELECT 1 FROM messages m WHERE m.room_id = OLD.id) THEN
            RAISE EXCEPTION 'update or delete on table "rooms" violates foreign key constraint "messages_room_id_fkey" on table "messages"'
                  USING ERRCODE = 'foreign_key_violation',
                        DETAIL = format('Key (id)=(%s) is still referenced from table "messages".', OLD.id);
        END IF;
    ELSIF EXISTS (SELECT 1 FROM messages m WHERE m.user_id = OLD.id) THEN
        RAISE EXCEPTION 'update or delete on table "users" violates foreign key constraint "messages_user_id_fkey" on table "messages"'
              USING ERRCODE = 'foreign_key_violation',
                    DETAIL = format('Key (id)=(%s) is still referenced from table "messages".', OLD.id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER rooms_messages_key_update AFTER UPDATE ON rooms
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id)
    EXECUTE FUNCTION chat_messages_key_update();
CREATE TRIGGER users_messages_key_update AFTER UPDATE ON users
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id)
    EXECUTE FUNCTION chat_messages_key_update();

-- No JIT compilation in chat_send_batch. Its statements are planned
-- without knowing the batch's size (generate_subscripts counts as 1000
-- rows), so once messages has statistics the planner's cost of the
-- classifying SELECT passes jit_above_cost (100000) and every call
-- compiled it with LLVM again: about 10 ms per batch, more than the batch
-- itself (bench/README.md, "Issue 16, round 2: durable sends"). The
-- statements are index probes per request, which JIT never speeds up.
ALTER FUNCTION chat_send_batch(text[], text[], text[], text[], integer[], integer[]) SET jit = off;
