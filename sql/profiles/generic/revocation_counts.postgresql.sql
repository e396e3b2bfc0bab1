-- Returns: the revocations in [since, until) counted per UTC day and revoking operator, one row
--   per pair that has a revocation: day, operator (revoked_by; NULL when the record names none),
--   revocations (revocation records) and early_revocations (the records the nightly query
--   returns: revoked at most threshold_seconds after issuance (issued_at, else not_before), or
--   with the issuance record or time missing). One pass over the window's join for the report's
--   30-day trend and its operators; the records themselves never leave the database.
-- Params: since, until, threshold_seconds
-- Uses: revocation_revoked_at (revoked_at), the issuance primary key (issuer_dn, serial).
SELECT CAST(r.revoked_at AT TIME ZONE 'UTC' AS date) AS day,
       r.revoked_by AS operator,
       COUNT(*) AS revocations,
       SUM(CASE WHEN COALESCE(i.issued_at, i.not_before) IS NULL
                  OR r.revoked_at <= COALESCE(i.issued_at, i.not_before)
                                     + :threshold_seconds * INTERVAL '1 second'
                THEN 1 ELSE 0 END) AS early_revocations
FROM revocation AS r
LEFT JOIN issuance AS i ON i.issuer_dn = r.issuer_dn AND i.serial = r.serial
WHERE r.revoked_at >= :since
  AND r.revoked_at < :until
GROUP BY CAST(r.revoked_at AT TIME ZONE 'UTC' AS date), r.revoked_by
