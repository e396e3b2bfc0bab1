-- Returns: nothing; the identity itself (random, made by the migration's runner).
-- Params: ledger_id, now
INSERT INTO revwatch_ledger (ledger_id, created_at) VALUES (:ledger_id, :now)
