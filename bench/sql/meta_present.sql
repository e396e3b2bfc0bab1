-- Returns: one row, present: whether the build-record table exists.
-- Params:
SELECT to_regclass('revwatch_bench_meta') IS NOT NULL AS present
