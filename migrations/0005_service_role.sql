-- 0005_service_role.sql -- the least-privilege role the services use.
--
-- chat-fcgi and chat-ws connect as a login role that is a member of
-- chat_app (deploy/local/stack.sh creates chat_svc; docs/deploy.md shows
-- the production commands). Migrations run as the owner of the tables, a
-- different role. chat_app may read and write rows the way the SQL
-- functions do and nothing else: no DDL, no TRUNCATE, no deleting
-- messages, users or rooms, no writing schema_migrations.
--
-- Creating the role needs CREATEROLE; where the migration owner lacks it,
-- a database administrator creates chat_app (NOLOGIN) before migrating.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chat_app') THEN
        CREATE ROLE chat_app NOLOGIN;
    END IF;
END
$$;

REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO chat_app;

GRANT SELECT, INSERT, UPDATE         ON users        TO chat_app;
GRANT SELECT, INSERT, UPDATE         ON rooms        TO chat_app;
GRANT SELECT, INSERT                 ON messages     TO chat_app;
GRANT SELECT, INSERT, DELETE         ON user_rooms   TO chat_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON sessions     TO chat_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON bridges      TO chat_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON presence     TO chat_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON rate_buckets TO chat_app;
GRANT SELECT                         ON schema_migrations TO chat_app;
GRANT USAGE ON SEQUENCE messages_id_seq TO chat_app;

-- Functions are executable by PUBLIC by default; keep it to chat_app.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO chat_app;
-- Functions of later migrations (created by the same owner) too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO chat_app;
