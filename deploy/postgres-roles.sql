-- PostgreSQL roles for kenshin: an owner that owns the schema, and the application's role that
-- may only INSERT and SELECT on the access log (audit_event).
--
--   1. As a superuser, once:           psql -U postgres -f deploy/postgres-roles.sql
--      (creates the roles and the database, then applies the grants below)
--   2. Set the passwords:              psql -U postgres -c '\password kenshin_owner' (and kenshin_app)
--   3. Create the schema AS THE OWNER: KENSHIN_DATABASE_URL=postgresql://kenshin_owner@HOST/kenshin \
--                                        flask --app app init-db
--   4. Grant again (tables now exist): psql -U postgres -d kenshin -f deploy/postgres-roles.sql
--      Running the whole file again is safe: the role and database steps skip what exists.
--   5. The application (gunicorn) runs with KENSHIN_DATABASE_URL=postgresql://kenshin_app@HOST/kenshin.
--      Commands that create or change the schema (init-db) keep using kenshin_owner.
--
-- The app role cannot UPDATE, DELETE or TRUNCATE audit_event (no privilege), cannot drop or
-- disable the append-only trigger (only the owner can), and cannot set session_replication_role
-- (superuser only). The owner role is for schema changes and is not used by the running app.

\set ON_ERROR_STOP on

SELECT 'CREATE ROLE kenshin_owner LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kenshin_owner') \gexec
SELECT 'CREATE ROLE kenshin_app LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kenshin_app') \gexec
SELECT 'CREATE DATABASE kenshin OWNER kenshin_owner ENCODING ''UTF8'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'kenshin') \gexec

REVOKE ALL ON DATABASE kenshin FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE kenshin TO kenshin_app;

\connect kenshin
ALTER SCHEMA public OWNER TO kenshin_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- BEGIN GRANTS (tests/test_audit_chain.py runs this part with its own role name)
GRANT USAGE ON SCHEMA public TO kenshin_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO kenshin_app;
DO $$ BEGIN
  IF to_regclass('public.audit_event') IS NOT NULL THEN
    REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_event FROM kenshin_app;
  END IF;
END $$;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO kenshin_app;
-- END GRANTS
-- No ALTER DEFAULT PRIVILEGES on purpose: a table added later gets its grants when step 4 is run
-- again, and audit_event can never pick up UPDATE or DELETE from a default.
