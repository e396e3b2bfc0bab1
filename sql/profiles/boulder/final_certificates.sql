-- Returns: the final certificates (certificates table) of the given serials: serial,
--   registration_id (the ACME account, the subscriber), der, issued (the CA's clock), expires.
-- Params: serials[]
-- Uses: certificates `serial` index.
SELECT c.serial AS serial,
       c.registrationID AS registration_id,
       c.der AS der,
       c.issued AS issued,
       c.expires AS expires
FROM certificates AS c
WHERE c.serial IN :serials
