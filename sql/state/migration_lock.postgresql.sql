-- Returns: nothing useful; waits for the migration lock, held until this transaction ends, so
--   that first runs started at once apply each migration once.
-- Params: key
SELECT pg_advisory_xact_lock(:key)
