-- Returns: one row per UTC day of revokedDate in [since, until) that has a revocation, among the
--   revokedCertificates rows with first_id <= id < end_id (the ids the binary search found around
--   the range: Boulder has no index on revokedDate): day, revocations (revocation records) and
--   early_revocations (revoked at most threshold_seconds after the serial's issuance, the
--   precertificate's `issued`: every issued serial has one; none found: counted early, as the
--   nightly walk reports it). A grouped count. The session's time zone is UTC.
-- Params: first_id, end_id, since, until, threshold_seconds
-- Uses: the revokedCertificates primary key (id), the precertificates `serial` index.
SELECT DATE(t.revoked_date) AS day,
       COUNT(*) AS revocations,
       SUM(CASE WHEN t.issued IS NULL
                  OR t.revoked_date <= TIMESTAMPADD(SECOND, :threshold_seconds, t.issued)
                THEN 1 ELSE 0 END) AS early_revocations
FROM (SELECT r.revokedDate AS revoked_date,
             (SELECT MIN(p.issued) FROM precertificates AS p WHERE p.serial = r.serial) AS issued
      FROM revokedCertificates AS r
      WHERE r.id >= :first_id
        AND r.id < :end_id
        AND r.revokedDate >= :since
        AND r.revokedDate < :until) AS t
GROUP BY DATE(t.revoked_date)
ORDER BY 1
