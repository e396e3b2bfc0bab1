-- Returns: the issuance time (issued_ms, epoch ms) that EJBCA's request history recorded for the
--   given certificates (by fingerprint); absent when history is off for their profile.
-- Params: fingerprints[]
-- Uses: the CertReqHistoryData primary key (fingerprint).
SELECT h.fingerprint AS fingerprint,
       h.timestamp AS issued_ms
FROM CertReqHistoryData AS h
WHERE h.fingerprint IN :fingerprints
