-- Returns: the revocations in [since, until) counted per UTC day and revoking operator, one row
--   per pair that has a revocation: day, operator (revoked_by; NULL when the record names none),
--   revocations (revocation records) and early_revocations (the records the nightly query
--   returns: revoked at most threshold_seconds after issuance (issued_at, else not_before), or
--   with the issuance record or time missing). One pass over the window's join for the report's
--   30-day trend and its operators; the records themselves never leave the database.
--   SQLite keeps times as ISO 8601 text, compared through julianday(); a millisecond's slack
--   absorbs its floating point at the threshold.
-- Params: since, until, threshold_seconds
SELECT date(r.revoked_at) AS day,
       r.revoked_by AS operator,
       COUNT(*) AS revocations,
       SUM(CASE WHEN julianday(COALESCE(i.issued_at, i.not_before)) IS NULL
                  OR (julianday(r.revoked_at) - julianday(COALESCE(i.issued_at, i.not_before)))
                     * 86400.0 <= :threshold_seconds + 0.001
                THEN 1 ELSE 0 END) AS early_revocations
FROM revocation AS r
LEFT JOIN issuance AS i ON i.issuer_dn = r.issuer_dn AND i.serial = r.serial
WHERE julianday(r.revoked_at) >= julianday(:since)
  AND julianday(r.revoked_at) < julianday(:until)
GROUP BY date(r.revoked_at), r.revoked_by
