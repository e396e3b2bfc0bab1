-- Returns: the issuance watch's history, grouped in the database: for each end entity (username)
--   with an end-entity certificate whose notBefore (epoch ms) lies in [since_ms, until_ms) at one
--   of the given issuing CAs, its distinct subjectAltName values (EJBCA's `dNSName=…, …`; NULL
--   when the profile does not store them) of end-entity certificates with notBefore before
--   until_ms, from any CA, that EJBCA does not hold as revoked (a domain only a revoked
--   certificate named is not held), each with first_ms, the earliest notBefore of that value; at most
--   per_subscriber values per end entity, the most recent first. One statement per night; the
--   registrable domains (Public Suffix List) are computed by the job.
-- Params: issuers[], since_ms, until_ms, per_subscriber
-- Uses: certificatedata_idx15 (issuerDN, notBefore) for the window's end entities,
--   certificatedata_idx2 (username) for each one's certificates.
SELECT g.subscriber, g.subject_alt_name, g.first_ms
FROM (
    SELECT h.username AS subscriber,
           h.subjectAltName AS subject_alt_name,
           MIN(h.notBefore) AS first_ms,
           ROW_NUMBER() OVER (PARTITION BY h.username ORDER BY MAX(h.notBefore) DESC) AS position
    FROM CertificateData AS h
    WHERE h.username IN (
            SELECT w.username FROM CertificateData AS w
            WHERE w.issuerDN IN :issuers
              AND w.notBefore >= :since_ms
              AND w.notBefore < :until_ms
              AND w.type = 1)
      AND h.notBefore < :until_ms
      AND h.type = 1
      AND h.status <> 40
      AND NOT (h.status = 60 AND h.revocationReason NOT IN (-1, 8))
    GROUP BY h.username, h.subjectAltName
) AS g
WHERE g.position <= :per_subscriber
