-- 0028_messages_truncate.sql -- TRUNCATE ... CASCADE of rooms or users empties messages again.
--
-- 0027 replaced messages' foreign keys with triggers. TRUNCATE follows
-- declared foreign keys only, so `TRUNCATE rooms CASCADE` (or users, or a
-- list naming every table that refers to them) emptied messages before
-- 0027 and left them behind, pointing at nothing, after it. A TRUNCATE
-- that its other foreign keys refuse (user_rooms, sessions, ...) is still
-- refused before this trigger runs. Only the tables' owner may TRUNCATE.

CREATE FUNCTION chat_messages_truncated_refs() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    TRUNCATE messages;
    RETURN NULL;
END
$$;

CREATE TRIGGER rooms_messages_truncate AFTER TRUNCATE ON rooms
    FOR EACH STATEMENT EXECUTE FUNCTION chat_messages_truncated_refs();
CREATE TRIGGER users_messages_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION chat_messages_truncated_refs();
