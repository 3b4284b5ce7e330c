-- Indexes FerretDB v1 can use, in its PostgreSQL database. `cloudcord infra up` runs
-- this file there; anyone running FerretDB v1 elsewhere runs it once, as a
-- superuser (event triggers need one), in the database FerretDB stores into.
--
-- Why: FerretDB v1 turns an equality filter on a top-level field into
-- `_jsonb -> 'field' @> '<value>'`. Its own indexes (on `_id`, and those that
-- `createIndexes` makes) are B-trees on `_jsonb -> 'field'`, which `@>` cannot
-- use, so every lookup reads the whole table. A GIN index on the same expression
-- serves `@>`: one message found by `_id` among 50,000 takes 1.6 ms instead of
-- 33 ms (`cloudcord bench documents`, BENCHMARKS.md).
--
-- The fields are those CloudCord looks documents up by: `_id` (every collection),
-- `channel_id` and `guild_id` (messages, the audit log) and `files_id` (GridFS
-- chunks). Without `fastupdate` a new document is in the index at once, not in a
-- pending list every lookup reads through until VACUUM merges it: lookups right
-- after writes are the common case here.
--
-- An event trigger indexes each collection table FerretDB creates; the last
-- statement indexes those that exist already. Running the file again changes
-- nothing.

CREATE OR REPLACE FUNCTION cloudcord_index_ferretdb_table(tab oid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    relation text;
    field text;
    index text;
BEGIN
    SELECT c.relname INTO relation FROM pg_class c WHERE c.oid = tab;
    -- Only FerretDB's collection tables: a `_jsonb` column, not its metadata.
    IF relation LIKE '\_ferretdb%' OR NOT EXISTS (
        SELECT 1 FROM pg_attribute a
        WHERE a.attrelid = tab AND a.attname = '_jsonb' AND NOT a.attisdropped
    ) THEN
        RETURN;
    END IF;
    FOREACH field IN ARRAY ARRAY['_id', 'channel_id', 'guild_id', 'files_id'] LOOP
        -- Table names are long and unique per schema; their hash keeps index
        -- names short and unique.
        index := 'cloudcord_' || left(md5(relation || '/' || field), 16);
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = tab AND c.relname = index
        );
        EXECUTE format(
            'CREATE INDEX %I ON %s USING gin ((_jsonb -> %L)) WITH (fastupdate = off)',
            index,
            tab::regclass,
            field
        );
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION cloudcord_index_new_ferretdb_tables() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    created record;
BEGIN
    FOR created IN
        SELECT objid FROM pg_event_trigger_ddl_commands()
        WHERE command_tag = 'CREATE TABLE' AND object_type = 'table'
    LOOP
        PERFORM cloudcord_index_ferretdb_table(created.objid);
    END LOOP;
END $$;

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_event_trigger WHERE evtname = 'cloudcord_index_ferretdb_tables'
    ) THEN
        CREATE EVENT TRIGGER cloudcord_index_ferretdb_tables ON ddl_command_end
            WHEN TAG IN ('CREATE TABLE')
            EXECUTE FUNCTION cloudcord_index_new_ferretdb_tables();
    END IF;
END $$;

SELECT cloudcord_index_ferretdb_table(c.oid)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'public');
