-- Returns: the final certificates issued in [since, until) whose serial certificateStatus does not
--   hold as revoked: the issuance watch's certificates (serial, registration_id, der, issued,
--   expires). The issuer comes from the DER.
-- Params: since, until
-- Uses: certificates issued_idx (issued), certificateStatus serial.
SELECT c.serial AS serial,
       c.registrationID AS registration_id,
       c.der AS der,
       c.issued AS issued,
       c.expires AS expires
FROM certificates AS c
WHERE c.issued >= :since
  AND c.issued < :until
  AND NOT EXISTS (SELECT 1 FROM certificateStatus AS s
                  WHERE s.serial = c.serial AND s.status = 'revoked')
