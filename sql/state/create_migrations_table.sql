-- Returns: nothing; creates the table of applied migrations if it is not there yet.
-- Params:
CREATE TABLE IF NOT EXISTS revwatch_schema_migrations (
    version    INTEGER     PRIMARY KEY,
    applied_at VARCHAR(40) NOT NULL
)
