-- Returns: every distinct issuerDN of NoConflictCertificateData, one row each (issuer_dn).
--   The nightly window is asked per issuer so that it can use EJBCA's (issuerDN, revocationDate)
--   index. PostgreSQL has no loose index scan, so this walks the (issuerDN, status) index one
--   issuer at a time (a recursive skip scan): one index probe per CA, never a scan of the table.
-- Params:
-- Uses: noconflictcertificatedata_idx3 (issuerDN, status).
WITH RECURSIVE issuers (dn) AS (
    SELECT MIN(issuerDN) FROM NoConflictCertificateData
  UNION ALL
    SELECT (SELECT MIN(c.issuerDN) FROM NoConflictCertificateData AS c WHERE c.issuerDN > i.dn)
    FROM issuers AS i
    WHERE i.dn IS NOT NULL
)
SELECT dn AS issuer_dn
FROM issuers
WHERE dn IS NOT NULL
