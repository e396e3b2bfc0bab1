-- Returns: for one issuing CA, one row per UTC day (day_number: days since 1970-01-01) of
--   revocationDate in [since_ms, until_ms) that has a revocation: revocations (certificates EJBCA
--   counts as revoked, the rule of revoked_window) and early_revocations (those revoked at most
--   threshold_ms after issuance, taken as notBefore + offset_ms; a row without notBefore, written
--   before EJBCA 6.6 and so years old, counts as not early). A grouped count.
-- Params: issuer, since_ms, until_ms, threshold_ms, offset_ms
-- Uses: certificatedata_idx16 (issuerDN, revocationDate).
SELECT FLOOR(c.revocationDate / 86400000) AS day_number,
       COUNT(*) AS revocations,
       SUM(CASE WHEN c.notBefore >= 0
                 AND c.revocationDate <= c.notBefore + :offset_ms + :threshold_ms
                THEN 1 ELSE 0 END) AS early_revocations
FROM CertificateData AS c
WHERE c.issuerDN = :issuer
  AND c.revocationDate >= :since_ms
  AND c.revocationDate < :until_ms
  AND (c.status = 40 OR (c.status = 60 AND c.revocationReason NOT IN (-1, 8)))
GROUP BY FLOOR(c.revocationDate / 86400000)
