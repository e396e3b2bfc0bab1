-- Returns: nothing; opens a ledger transaction holding SQLite's write lock from its first
--   statement, so that DDL is part of the transaction and two first runs migrate one at a time.
-- Params:
BEGIN IMMEDIATE
