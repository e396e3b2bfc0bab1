-- Returns: nothing; writes one case of a run (reported once that run is a success).
-- Params: case_key, issuer, serial, run_id, revoked_at, reported_at
INSERT INTO revwatch_reported_cases (case_key, issuer, serial, run_id, revoked_at, reported_at)
VALUES (:case_key, :issuer, :serial, :run_id, :revoked_at, :reported_at)
