-- Returns: the issuance watch's history, grouped in the database: for each subscriber with a
--   certificate issued in [since, until), its distinct names lists (the names column; NULL when
--   the names are only in the DER) of its certificates issued before until that no revocation
--   record names (a domain only a revoked certificate named is not held), each with issued_at, when
--   that list was first issued; at most per_subscriber lists per subscriber, the most recently
--   issued first. One statement per night; the registrable domains (Public Suffix List) are
--   computed by the job from the names. SQLite compares its ISO text through julianday().
-- Params: since, until, per_subscriber
-- Uses: issuance_subscriber_issued (subscriber, issued_at) for each subscriber's certificates,
--   revocation_issuer_serial (issuer_dn, serial) to leave the revoked out.
SELECT g.subscriber, g.names, g.issued_at
FROM (
    SELECT h.subscriber AS subscriber,
           h.names AS names,
           MIN(COALESCE(h.issued_at, h.not_before)) AS issued_at,
           ROW_NUMBER() OVER (PARTITION BY h.subscriber
                              ORDER BY MAX(julianday(COALESCE(h.issued_at, h.not_before))) DESC)
               AS position
    FROM issuance AS h
    WHERE h.subscriber IN (
            SELECT w.subscriber FROM issuance AS w
            WHERE julianday(COALESCE(w.issued_at, w.not_before)) >= julianday(:since) - 1.0 / 86400
              AND julianday(COALESCE(w.issued_at, w.not_before)) < julianday(:until) + 1.0 / 86400)
      AND julianday(COALESCE(h.issued_at, h.not_before)) < julianday(:until) + 1.0 / 86400
      AND NOT EXISTS (SELECT 1 FROM revocation AS r
                      WHERE r.issuer_dn = h.issuer_dn AND r.serial = h.serial)
    GROUP BY h.subscriber, h.names
) AS g
WHERE g.position <= :per_subscriber
