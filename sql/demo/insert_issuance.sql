-- Returns: nothing; adds one issuance row to the generic schema of a demo or test database.
-- Params: issuer_dn, serial, subscriber, requester, names, subject_dn, not_before, not_after, issued_at, der
INSERT INTO issuance (
    issuer_dn, serial, subscriber, requester, names, subject_dn, not_before, not_after, issued_at,
    der
) VALUES (
    :issuer_dn, :serial, :subscriber, :requester, :names, :subject_dn, :not_before, :not_after,
    :issued_at, :der
)
