-- Returns: the certificates issued in [since, until) (issued_at, else not_before) that no
--   revocation record names (issuer AND serial): the issuance watch's certificates, with the
--   generic issuance columns. The job applies the exact half-open window again.
-- Params: since, until
-- Uses: issuance_issued (issued_at, not_before); the revocation index on both key columns
--   (revocation_serial_issuer on PostgreSQL, revocation_issuer_serial on MySQL).
SELECT i.issuer_dn,
       i.serial,
       i.subscriber,
       i.requester,
       i.names,
       i.subject_dn,
       i.not_before,
       i.not_after,
       i.issued_at,
       i.der
FROM issuance AS i
WHERE ((i.issued_at >= :since AND i.issued_at < :until)
       OR (i.issued_at IS NULL AND i.not_before >= :since AND i.not_before < :until))
  AND NOT EXISTS (SELECT 1 FROM revocation AS r
                  WHERE r.issuer_dn = i.issuer_dn AND r.serial = i.serial)
