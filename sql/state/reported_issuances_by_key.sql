-- Returns: the suspicious issuances among the given ledger keys that a successful run recorded,
--   with that run; those staged by a run still `sending` are not reported yet.
-- Params: issuance_keys[]
SELECT i.issuance_key, i.run_id
FROM revwatch_reported_issuances i
JOIN revwatch_runs r ON r.run_id = i.run_id
WHERE i.issuance_key IN :issuance_keys AND r.outcome IN ('success', 'backfill')
