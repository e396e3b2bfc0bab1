-- Returns: the precertificate (linting certificate) rows of the given serials: every issued serial
--   has one, also when no final certificate followed. Same columns as final_certificates.
-- Params: serials[]
-- Uses: precertificates `serial` index.
SELECT p.serial AS serial,
       p.registrationID AS registration_id,
       p.der AS der,
       p.issued AS issued,
       p.expires AS expires
FROM precertificates AS p
WHERE p.serial IN :serials
