-- Returns: which of the given Boulder tables exist in the connection's database and may be read
--   (table_name). revokedCertificates (2023) and replacementOrders (2024) are recent: an older
--   schema gets a clear message instead of a failed query.
-- Params: tables[]
SELECT TABLE_NAME AS table_name
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE()
  AND TABLE_NAME IN :tables
