-- Returns: the certificates of the given end entities (username) whose notBefore (epoch ms) lies in
--   [earliest_ms, latest_ms], or is unknown: the replacement candidates of one batch of cases. The
--   caller widens the range by the validity offset and keeps the exact issuance window.
-- Params: subscribers[], earliest_ms, latest_ms
-- Uses: certificatedata_idx2 (username).
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
WHERE c.username IN :subscribers
  AND (c.notBefore IS NULL OR (c.notBefore >= :earliest_ms AND c.notBefore <= :latest_ms))
