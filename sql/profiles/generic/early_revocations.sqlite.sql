-- Returns: one row per revocation record in [since, until) that came at most threshold_seconds
--   after its certificate's issuance (issued_at, else not_before), joined to the issuance record on
--   issuer AND serial. Rows whose issuance record or issuance time is missing, and rows revoked
--   before issuance, come back too: detection reports them as data problems, never drops them.
--   SQLite keeps times as ISO 8601 text, compared through julianday(), whose floating point cannot
--   tell microseconds apart: the window and the threshold are widened by one second here, and
--   detection applies the exact half-open rule (else a revocation a microsecond before a window's
--   end would be fetched by the next window and rejected by both).
--   A revocation time julianday() cannot read (ISO basic, a `+0000` offset, epoch, garbage) is
--   returned whatever the window: the source reads the spellings it can and detection places them
--   exactly or names the record as unreadable; no SQL filter drops it silently.
-- Params: since, until, threshold_seconds
SELECT CAST(r.id AS TEXT) AS revocation_id,
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
WHERE julianday(r.revoked_at) IS NULL
   OR (julianday(r.revoked_at) >= julianday(:since) - 1.0 / 86400
       AND julianday(r.revoked_at) < julianday(:until) + 1.0 / 86400
       AND (julianday(COALESCE(i.issued_at, i.not_before)) IS NULL
            OR (julianday(r.revoked_at) - julianday(COALESCE(i.issued_at, i.not_before))) * 86400.0
               <= :threshold_seconds + 1))
ORDER BY julianday(r.revoked_at), r.issuer_dn, r.serial, r.id
