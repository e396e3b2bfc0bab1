-- Returns: one row per revocation record in [since, until) that came at most threshold_seconds
--   after its certificate's issuance (issued_at, else not_before), joined to the issuance record on
--   issuer AND serial. Rows whose issuance record or issuance time is missing, and rows revoked
--   before issuance, come back too: detection reports them as data problems, never drops them.
--   So do rows whose issuance time is out of Python's range (infinity, BC): the source names the
--   value and detection judges the row on what it can read.
-- Params: since, until, threshold_seconds
-- Uses: revocation_revoked_at (revoked_at), the issuance primary key (issuer_dn, serial).
SELECT r.id::text AS revocation_id,
       r.issuer_dn,
       r.serial,
       r.revoked_at,
       r.reason_code,
       r.revoked_by,
       r.comment,
       i.serial IS NOT NULL AS issuance_found,
       i.subscriber,
       i.requester,
       i.names,
       i.subject_dn,
       i.not_before,
       i.not_after,
       i.issued_at,
       i.der
FROM revocation AS r
LEFT JOIN issuance AS i ON i.issuer_dn = r.issuer_dn AND i.serial = r.serial
WHERE r.revoked_at >= :since
  AND r.revoked_at < :until
  AND (COALESCE(i.issued_at, i.not_before) IS NULL
       -- An issuance time Python cannot hold (infinity, BC, year 10000+) is unknown, not late.
       OR NOT (COALESCE(i.issued_at, i.not_before) >= TIMESTAMPTZ '0001-01-01 00:00:00+00'
               AND COALESCE(i.issued_at, i.not_before) < TIMESTAMPTZ '10000-01-01 00:00:00+00')
       OR r.revoked_at <= COALESCE(i.issued_at, i.not_before) + :threshold_seconds * INTERVAL '1 second')
ORDER BY r.revoked_at, r.issuer_dn, r.serial, r.id
