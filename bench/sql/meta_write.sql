-- Returns: nothing; records one fact about the finished build.
-- Params: key, value
INSERT INTO revwatch_bench_meta (key, value) VALUES (:key, :value)
