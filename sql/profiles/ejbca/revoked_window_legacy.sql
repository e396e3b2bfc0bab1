-- Returns: revoked_window's rows on an installation whose CertificateData lacks notBefore or
--   subjectAltName (EJBCA before 6.x): both come back NULL and are read from the certificate.
-- Params: issuer, since_ms, until_ms
-- Uses: certificatedata_idx16 (issuerDN, revocationDate).
SELECT c.fingerprint AS fingerprint,
       c.issuerDN AS issuer_dn,
       c.serialNumber AS serial_number,
       c.revocationDate AS revocation_date,
       c.revocationReason AS revocation_reason,
       c.status AS status,
       c.username AS username,
       c.subjectDN AS subject_dn,
       NULL AS not_before_ms,
       c.expireDate AS expire_date,
       NULL AS subject_alt_name
FROM CertificateData AS c
WHERE c.issuerDN = :issuer
  AND c.revocationDate >= :since_ms
  AND c.revocationDate < :until_ms
  AND (c.status = 40 OR (c.status = 60 AND c.revocationReason NOT IN (-1, 8)))
