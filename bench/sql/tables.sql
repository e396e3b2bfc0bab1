-- Returns: (name) of every table of the public schema, quoted for reuse in DDL.
-- Params:
SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1
