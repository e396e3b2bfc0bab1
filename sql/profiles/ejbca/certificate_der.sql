-- Returns: the base64 certificate stored in CertificateData for the given fingerprints
--   (base64_cert is NULL when the CA keeps it in Base64CertData or does not store it).
-- Params: fingerprints[]
-- Uses: the CertificateData primary key (fingerprint).
SELECT c.fingerprint AS fingerprint,
       c.base64Cert AS base64_cert
FROM CertificateData AS c
WHERE c.fingerprint IN :fingerprints
