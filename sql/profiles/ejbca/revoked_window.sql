-- Returns: one row per certificate of one issuing CA that EJBCA counts as revoked, with a
--   revocationDate (epoch ms) in [since_ms, until_ms): status 40, or status 60 (archived) keeping a
--   reason other than -1 (not revoked) and 8 (removeFromCRL). A certificate released from hold is
--   back at status 20 and is not returned, whatever revocationDate it kept. Light columns only:
--   the certificate itself is fetched for the early ones.
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
       c.notBefore AS not_before_ms,
       c.expireDate AS expire_date,
       c.subjectAltName AS subject_alt_name
FROM CertificateData AS c
WHERE c.issuerDN = :issuer
  AND c.revocationDate >= :since_ms
  AND c.revocationDate < :until_ms
  AND (c.status = 40 OR (c.status = 60 AND c.revocationReason NOT IN (-1, 8)))
