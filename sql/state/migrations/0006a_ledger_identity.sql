-- Returns: nothing; the ledger's identity: every outbox entry names the ledger it belongs to, so
--   ledgers that share an outbox folder (or a ledger made anew at the same path) never send or
--   prune one another's messages.
-- Params:
CREATE TABLE revwatch_ledger (
    ledger_id  VARCHAR(64) PRIMARY KEY,
    created_at VARCHAR(40) NOT NULL
)
