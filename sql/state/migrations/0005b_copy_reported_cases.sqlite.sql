-- Returns: nothing; copies the reported cases with their keys (`revwatch_case_key` is
--   `jobs.core.model.ledger_key`, registered on every ledger connection).
-- Params:
INSERT INTO revwatch_reported_cases_v5 (case_key, issuer, serial, run_id, revoked_at, reported_at)
SELECT revwatch_case_key(issuer, serial), issuer, serial, run_id, revoked_at, reported_at
FROM revwatch_reported_cases
