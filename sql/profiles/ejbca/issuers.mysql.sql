-- Returns: every distinct issuerDN of CertificateData, one row each (issuer_dn).
--   The nightly window is asked per issuer so that it can use EJBCA's (issuerDN, revocationDate)
--   index. MySQL/MariaDB answer DISTINCT on an index prefix with a loose index scan ("Using index
--   for group-by"): one probe per CA, never a scan of the table.
-- Params:
-- Uses: certificatedata_idx6 (issuerDN, status).
SELECT DISTINCT issuerDN AS issuer_dn
FROM CertificateData
