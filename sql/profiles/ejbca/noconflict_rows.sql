-- Returns: every NoConflictCertificateData row of the given serials of one issuing CA. The table
--   is append-only (each status change is a new row), so the caller picks the effective row.
-- Params: issuer, serials[]
-- Uses: noconflictcertificatedata_idx1 (serialNumber, issuerDN).
SELECT n.id AS row_id,
       n.fingerprint AS fingerprint,
       n.issuerDN AS issuer_dn,
       n.serialNumber AS serial_number,
       n.revocationDate AS revocation_date,
       n.revocationReason AS revocation_reason,
       n.status AS status,
       n.updateTime AS update_time,
       n.username AS username,
       n.subjectDN AS subject_dn,
       n.notBefore AS not_before_ms,
       n.expireDate AS expire_date,
       n.subjectAltName AS subject_alt_name,
       n.base64Cert AS base64_cert
FROM NoConflictCertificateData AS n
WHERE n.issuerDN = :issuer
  AND n.serialNumber IN :serials
