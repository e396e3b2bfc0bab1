-- Returns: the versions of the migrations already applied.
-- Params:
SELECT version FROM revwatch_schema_migrations ORDER BY version
