-- Returns: early_revoked where request history is kept: for one issuing CA, the certificates
--   revoked in [since_ms, until_ms) at most threshold_ms after issuance
--   (CertReqHistoryData.timestamp, else notBefore + offset_ms): issuer_dn, serial_number,
--   username, revocation_date. Light columns, no certificate.
-- Params: issuer, since_ms, until_ms, threshold_ms, offset_ms
-- Uses: certificatedata_idx16 (issuerDN, revocationDate), the CertReqHistoryData primary key.
SELECT c.issuerDN AS issuer_dn,
       c.serialNumber AS serial_number,
       c.username AS username,
       c.revocationDate AS revocation_date
FROM CertificateData AS c
LEFT JOIN CertReqHistoryData AS h ON h.fingerprint = c.fingerprint
WHERE c.issuerDN = :issuer
  AND c.revocationDate >= :since_ms
  AND c.revocationDate < :until_ms
  AND (c.status = 40 OR (c.status = 60 AND c.revocationReason NOT IN (-1, 8)))
  AND c.revocationDate <= COALESCE(h.timestamp, CASE WHEN c.notBefore >= 0
                                                THEN c.notBefore + :offset_ms END)
                          + :threshold_ms
