-- Returns: (table_name, constraint_name, definition) of every primary key in the public schema,
--   quoted for reuse in ALTER TABLE: the build drops them before loading and adds them back after.
-- Params:
SELECT c.conrelid::regclass::text AS table_name,
       quote_ident(c.conname) AS constraint_name,
       pg_get_constraintdef(c.oid) AS definition
FROM pg_constraint AS c
JOIN pg_namespace AS ns ON ns.oid = c.connamespace
WHERE c.contype = 'p' AND ns.nspname = 'public'
ORDER BY 1
