-- Returns: the columns (table_name, column_name, both lower-case) of the given EJBCA tables in the
--   connection's database. EJBCA adds columns release by release (notBefore and subjectAltName in
--   6.x, NoConflictCertificateData in 7.x): the profile reads what this database has instead of
--   failing on a column an older installation lacks. Tables the job may not read do not appear.
-- Params: tables[]
SELECT LOWER(TABLE_NAME) AS table_name,
       LOWER(COLUMN_NAME) AS column_name
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE()
  AND LOWER(TABLE_NAME) IN :tables
