-- Returns: the first revokedCertificates row at or after id from_id (id, revoked_date): one
--   primary-key probe of the binary search for where a window starts. Boulder has no index on
--   revokedDate; rows are appended at revocation time, so id order follows revokedDate closely.
-- Params: from_id
-- Uses: the revokedCertificates primary key (id).
SELECT r.id AS id,
       r.revokedDate AS revoked_date
FROM revokedCertificates AS r
WHERE r.id >= :from_id
ORDER BY r.id
LIMIT 1
