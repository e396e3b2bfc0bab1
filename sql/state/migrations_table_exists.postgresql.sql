-- Returns: 1 if this database holds a ledger (its table of applied migrations), else 0.
-- Params:
SELECT count(*) AS present FROM information_schema.tables
WHERE table_schema = current_schema() AND table_name = 'revwatch_schema_migrations'
