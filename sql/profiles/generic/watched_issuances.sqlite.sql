-- Returns: the certificates issued in [since, until) (issued_at, else not_before) that no
--   revocation record names (issuer AND serial): the issuance watch's certificates, with the
--   generic issuance columns. SQLite keeps times as ISO 8601 text, compared through julianday()
--   (whose floating point cannot tell microseconds apart: the window is widened by one second
--   and the job applies the exact half-open window again).
-- Params: since, until
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
WHERE julianday(COALESCE(i.issued_at, i.not_before)) >= julianday(:since) - 1.0 / 86400
  AND julianday(COALESCE(i.issued_at, i.not_before)) < julianday(:until) + 1.0 / 86400
  AND NOT EXISTS (SELECT 1 FROM revocation AS r
                  WHERE r.issuer_dn = i.issuer_dn AND r.serial = i.serial)
