-- Returns: the certificateStatus rows of the given serials that say revoked (status = 'revoked'):
--   the authority on revocation. Unrevoked rows carry reason 0 and a placeholder revokedDate
--   (2000-01-01, or 0000-00-00 on old rows) and are never read.
-- Params: serials[]
-- Uses: certificateStatus `serial` index.
SELECT s.serial AS serial,
       s.issuerID AS issuer_id,
       s.revokedDate AS revoked_date,
       s.revokedReason AS revoked_reason
FROM certificateStatus AS s
WHERE s.serial IN :serials
  AND s.status = 'revoked'
