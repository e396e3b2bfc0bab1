-- Returns: nothing; creates the table where a finished build records what the database holds
--   (written last, so a build that stopped half-way is never taken for a finished one).
-- Params:
CREATE TABLE revwatch_bench_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)
