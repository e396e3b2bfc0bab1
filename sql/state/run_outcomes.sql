-- Returns: the outcome of each of the given runs the ledger has a record of.
-- Params: run_ids[]
SELECT run_id, outcome FROM revwatch_runs WHERE run_id IN :run_ids
