-- Returns: the final certificates of the given ACME accounts (registrationID) issued in
--   [earliest, latest]: the replacement candidates of one batch of cases.
-- Params: subscribers[], earliest, latest
-- Uses: certificates regId_certificates_idx (registrationID).
SELECT c.serial AS serial,
       c.registrationID AS registration_id,
       c.der AS der,
       c.issued AS issued,
       c.expires AS expires
FROM certificates AS c
WHERE c.registrationID IN :subscribers
  AND c.issued >= :earliest
  AND c.issued <= :latest
