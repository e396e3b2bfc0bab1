-- Returns: nothing; marks one case as reported by a run.
-- Params: issuer, serial, run_id, revoked_at, reported_at
INSERT INTO revwatch_reported_cases (issuer, serial, run_id, revoked_at, reported_at)
VALUES (:issuer, :serial, :run_id, :revoked_at, :reported_at)
