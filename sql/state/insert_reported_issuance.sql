-- Returns: nothing; writes one suspicious issuance of a run (reported once that run is a success).
-- Params: issuance_key, issuer, serial, run_id, issued_at, reported_at
INSERT INTO revwatch_reported_issuances (issuance_key, issuer, serial, run_id, issued_at,
                                         reported_at)
VALUES (:issuance_key, :issuer, :serial, :run_id, :issued_at, :reported_at)
