-- Returns: one row, estimate: the planner's row count of `table_name` (from the last ANALYZE), a
--   cheap check that a kept database still holds what its build record says.
-- Params: table_name
SELECT COALESCE((SELECT c.reltuples::bigint FROM pg_class AS c
                 WHERE c.oid = to_regclass(:table_name)), -1) AS estimate
