-- Returns: the base64 certificate kept in the separate Base64CertData table for the given
--   fingerprints (EJBCA's "use Base64CertData" setting).
-- Params: fingerprints[]
-- Uses: the Base64CertData primary key (fingerprint).
SELECT b.fingerprint AS fingerprint,
       b.base64Cert AS base64_cert
FROM Base64CertData AS b
WHERE b.fingerprint IN :fingerprints
