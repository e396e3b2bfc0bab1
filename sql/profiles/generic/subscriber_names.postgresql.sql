-- Returns: the issuance watch's history, grouped in the database: for each subscriber with a
--   certificate issued in [since, until), its distinct names lists (the names column; NULL when
--   the names are only in the DER) of its certificates issued before until that no revocation
--   record names (a domain only a revoked certificate named is not held), each with issued_at,
--   when that list was first issued; at most per_subscriber lists per subscriber, the most
--   recently issued first. One statement per night; the registrable domains (Public Suffix List)
--   are computed by the job from the names. A lateral join: each subscriber's certificates are
--   read through its index entries, so the cost follows the window's subscribers' history, never
--   the size of the table.
-- Params: since, until, per_subscriber
-- Uses: issuance_issued (issued_at, not_before) for the window's subscribers,
--   issuance_subscriber_issued (subscriber, issued_at, INCLUDE names and the key) for each
--   one's certificates, read from the index alone (Index Only Scan),
--   revocation_serial_issuer (serial, issuer_dn) to leave the revoked out.
SELECT g.subscriber, g.names, g.issued_at
FROM (
    SELECT DISTINCT w.subscriber
    FROM issuance AS w
    WHERE ((w.issued_at >= :since AND w.issued_at < :until)
           OR (w.issued_at IS NULL AND w.not_before >= :since AND w.not_before < :until))
      AND w.subscriber IS NOT NULL
) AS s
CROSS JOIN LATERAL (
    SELECT s.subscriber AS subscriber,
           h.names AS names,
           MIN(COALESCE(h.issued_at, h.not_before)) AS issued_at
    FROM issuance AS h
    WHERE h.subscriber = s.subscriber
      AND COALESCE(h.issued_at, h.not_before) < :until
      AND NOT EXISTS (SELECT 1 FROM revocation AS r
                      WHERE r.issuer_dn = h.issuer_dn AND r.serial = h.serial)
    GROUP BY h.names
    ORDER BY MAX(COALESCE(h.issued_at, h.not_before)) DESC
    LIMIT :per_subscriber
) AS g
