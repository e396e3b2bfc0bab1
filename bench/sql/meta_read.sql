-- Returns: (key, value) for every fact a finished build recorded (ask meta_present first).
-- Params:
SELECT m.key, m.value FROM revwatch_bench_meta AS m
