-- Returns: revocation_trend where request history is kept: for one issuing CA, one row per UTC
--   day (day_number: days since 1970-01-01) of revocationDate in [since_ms, until_ms) that has a
--   revocation: revocations and early_revocations (revoked at most threshold_ms after issuance:
--   CertReqHistoryData.timestamp, else notBefore + offset_ms; neither: not early). A grouped count.
-- Params: issuer, since_ms, until_ms, threshold_ms, offset_ms
-- Uses: certificatedata_idx16 (issuerDN, revocationDate), the CertReqHistoryData primary key.
SELECT FLOOR(c.revocationDate / 86400000) AS day_number,
       COUNT(*) AS revocations,
       SUM(CASE WHEN c.revocationDate <= COALESCE(h.timestamp, CASE WHEN c.notBefore >= 0
                                                  THEN c.notBefore + :offset_ms END)
                                         + :threshold_ms
                THEN 1 ELSE 0 END) AS early_revocations
FROM CertificateData AS c
LEFT JOIN CertReqHistoryData AS h ON h.fingerprint = c.fingerprint
WHERE c.issuerDN = :issuer
  AND c.revocationDate >= :since_ms
  AND c.revocationDate < :until_ms
  AND (c.status = 40 OR (c.status = 60 AND c.revocationReason NOT IN (-1, 8)))
GROUP BY FLOOR(c.revocationDate / 86400000)
