-- Returns: the successful run whose window ends last (the watermark), if any.
-- Params:
SELECT run_id, window_since, window_until, finished_at
FROM revwatch_runs
WHERE outcome = 'success'
ORDER BY window_until DESC, finished_at DESC
LIMIT 1
