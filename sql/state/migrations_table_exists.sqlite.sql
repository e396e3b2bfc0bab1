-- Returns: 1 if this database holds a ledger (its table of applied migrations), else 0.
-- Params:
SELECT count(*) AS present FROM sqlite_master
WHERE type = 'table' AND name = 'revwatch_schema_migrations'
