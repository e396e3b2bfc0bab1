-- Returns: the serials (serial_number) of one issuing CA with a NoConflictCertificateData row whose
--   revocationDate lies in [since_ms, until_ms), whatever that row's status: whether the
--   certificate is revoked is decided on all its rows (noconflict_rows), newest first.
-- Params: issuer, since_ms, until_ms
-- Uses: noconflictcertificatedata_idx3 (issuerDN, status).
SELECT DISTINCT n.serialNumber AS serial_number
FROM NoConflictCertificateData AS n
WHERE n.issuerDN = :issuer
  AND n.revocationDate >= :since_ms
  AND n.revocationDate < :until_ms
