-- Returns: the ledger's identity, made once by migration 0006 (it names the outbox entries).
-- Params:
SELECT ledger_id FROM revwatch_ledger
