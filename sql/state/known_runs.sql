-- Returns: which of the given run ids the ledger has a record of (any outcome).
-- Params: run_ids[]
SELECT run_id FROM revwatch_runs WHERE run_id IN :run_ids
