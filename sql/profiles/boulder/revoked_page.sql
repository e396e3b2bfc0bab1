-- Returns: one page of revokedCertificates after id after_id, in id order (keyset pagination,
--   never OFFSET): id, issuer_id (Boulder's issuer NameID), serial, revoked_date, revoked_reason.
-- Params: after_id, page_size
-- Uses: the revokedCertificates primary key (id).
SELECT r.id AS id,
       r.issuerID AS issuer_id,
       r.serial AS serial,
       r.revokedDate AS revoked_date,
       r.revokedReason AS revoked_reason
FROM revokedCertificates AS r
WHERE r.id > :after_id
ORDER BY r.id
LIMIT :page_size
