-- Returns: one row per revocation record in [since, until) that came at most threshold_seconds
--   after its certificate's issuance (issued_at, else not_before), joined to the issuance record on
--   issuer AND serial. Rows whose issuance record or issuance time is missing, and rows revoked
--   before issuance, come back too: detection reports them as data problems, never drops them.
-- Params: since, until, threshold_seconds
-- Uses: revocation_revoked_at (revoked_at), the issuance primary key (issuer_dn, serial).
SELECT CAST(r.id AS CHAR) AS revocation_id,
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
       -- Zero dates ('0000-00-00', kept by a permissive sql_mode) are unknown, not late.
       OR COALESCE(i.issued_at, i.not_before) < '1000-01-01'
       OR r.revoked_at <= TIMESTAMPADD(SECOND, :threshold_seconds, COALESCE(i.issued_at, i.not_before)))
ORDER BY r.revoked_at, r.issuer_dn, r.serial, r.id
