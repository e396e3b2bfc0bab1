-- Returns: nothing; copies the reported cases with their keys: SHA-256 of issuer, NUL, serial.
-- Params:
INSERT INTO revwatch_reported_cases_v5 (case_key, issuer, serial, run_id, revoked_at, reported_at)
SELECT encode(sha256(convert_to(issuer, 'UTF8') || decode('00', 'hex') || convert_to(serial, 'UTF8')), 'hex'),
       issuer, serial, run_id, revoked_at, reported_at
FROM revwatch_reported_cases
