-- Returns: the columns (table_name, column_name, both lower-case) of the given EJBCA tables in the
--   connection's schema. EJBCA adds columns release by release (notBefore and subjectAltName in
--   6.x, NoConflictCertificateData in 7.x): the profile reads what this database has instead of
--   failing on a column an older installation lacks. Tables the job may not read do not appear.
-- Params: tables[]
SELECT lower(table_name) AS table_name,
       lower(column_name) AS column_name
FROM information_schema.columns
WHERE table_schema = current_schema()
  AND lower(table_name) IN :tables
