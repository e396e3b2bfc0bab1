-- Returns: the CertificateData rows of the given serials of one issuing CA (the issuance record of
--   a revocation found in NoConflictCertificateData, when the CA once stored the certificate).
-- Params: issuer, serials[]
-- Uses: certificatedata_idx12 (serialNumber, issuerDN).
SELECT c.fingerprint AS fingerprint,
       c.issuerDN AS issuer_dn,
       c.serialNumber AS serial_number,
       c.username AS username,
       c.subjectDN AS subject_dn,
       c.notBefore AS not_before_ms,
       c.expireDate AS expire_date,
       c.subjectAltName AS subject_alt_name,
       c.base64Cert AS base64_cert
FROM CertificateData AS c
WHERE c.issuerDN = :issuer
  AND c.serialNumber IN :serials
