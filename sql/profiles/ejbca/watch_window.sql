-- Returns: the end-entity certificates of one issuing CA whose notBefore (epoch ms) lies in
--   [since_ms, until_ms) and that EJBCA holds as active (status 20, or 21: active, expiry
--   notified): the issuance watch's certificates. The caller widens the range by the validity
--   offset and keeps the exact issuance window (request history, else notBefore + offset). No
--   base64Cert: the widened range holds about three times the window's rows, so the DER is read
--   afterwards, once, for the certificates kept (certificate_der, by fingerprint).
-- Params: issuer, since_ms, until_ms
-- Uses: certificatedata_idx15 (issuerDN, notBefore).
SELECT c.fingerprint AS fingerprint,
       c.issuerDN AS issuer_dn,
       c.serialNumber AS serial_number,
       c.username AS username,
       c.subjectDN AS subject_dn,
       c.notBefore AS not_before_ms,
       c.expireDate AS expire_date,
       c.subjectAltName AS subject_alt_name
FROM CertificateData AS c
WHERE c.issuerDN = :issuer
  AND c.notBefore >= :since_ms
  AND c.notBefore < :until_ms
  AND c.type = 1
  AND c.status IN (20, 21)
