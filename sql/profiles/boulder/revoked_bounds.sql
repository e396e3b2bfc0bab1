-- Returns: the first and last id of revokedCertificates (first_id, last_id; NULL when empty).
-- Params:
-- Uses: the revokedCertificates primary key (id).
SELECT MIN(r.id) AS first_id,
       MAX(r.id) AS last_id
FROM revokedCertificates AS r
