-- Returns: nothing; marks one migration as applied.
-- Params: version, applied_at
INSERT INTO revwatch_schema_migrations (version, applied_at) VALUES (:version, :applied_at)
