-- Returns: for one issuing CA, the certificates revoked in [since_ms, until_ms) at most
--   threshold_ms after issuance (notBefore + offset_ms), the rule of revocation_trend: only what
--   finding their operator in the audit log needs (issuer_dn, serial_number, username,
--   revocation_date). Light columns, no certificate.
-- Params: issuer, since_ms, until_ms, threshold_ms, offset_ms
-- Uses: certificatedata_idx16 (issuerDN, revocationDate).
SELECT c.issuerDN AS issuer_dn,
       c.serialNumber AS serial_number,
       c.username AS username,
       c.revocationDate AS revocation_date
FROM CertificateData AS c
WHERE c.issuerDN = :issuer
  AND c.revocationDate >= :since_ms
  AND c.revocationDate < :until_ms
  AND (c.status = 40 OR (c.status = 60 AND c.revocationReason NOT IN (-1, 8)))
  AND c.notBefore >= 0
  AND c.revocationDate <= c.notBefore + :offset_ms + :threshold_ms
