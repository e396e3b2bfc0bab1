-- Returns: replacement_candidates' rows on an installation whose CertificateData lacks notBefore or
--   subjectAltName: every certificate of the given end entities, the window applied by the caller
--   from the certificates themselves.
-- Params: subscribers[]
-- Uses: certificatedata_idx2 (username).
SELECT c.fingerprint AS fingerprint,
       c.issuerDN AS issuer_dn,
       c.serialNumber AS serial_number,
       c.username AS username,
       c.subjectDN AS subject_dn,
       NULL AS not_before_ms,
       c.expireDate AS expire_date,
       NULL AS subject_alt_name,
       c.base64Cert AS base64_cert
FROM CertificateData AS c
WHERE c.username IN :subscribers
