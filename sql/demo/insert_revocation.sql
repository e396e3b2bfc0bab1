-- Returns: nothing; adds one revocation row to the generic schema of a demo or test database.
-- Params: issuer_dn, serial, revoked_at, reason_code, revoked_by, comment
INSERT INTO revocation (issuer_dn, serial, revoked_at, reason_code, revoked_by, comment)
VALUES (:issuer_dn, :serial, :revoked_at, :reason_code, :revoked_by, :comment)
