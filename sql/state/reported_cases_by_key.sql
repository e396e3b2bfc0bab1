-- Returns: the cases among the given ledger keys that a successful run (or a backfill) recorded,
--   with that run; cases staged by a run still `sending` are not reported yet.
-- Params: case_keys[]
SELECT c.case_key, c.run_id
FROM revwatch_reported_cases c
JOIN revwatch_runs r ON r.run_id = c.run_id
WHERE c.case_key IN :case_keys AND r.outcome IN ('success', 'backfill')
