-- Returns: the latest runs, newest first, for `revwatch status`.
-- Params: limit
SELECT run_id, started_at, finished_at, window_since, window_until, threshold_seconds,
       cases_found, cases_new, outcome, error, message_id, refused
FROM revwatch_runs
ORDER BY started_at DESC
LIMIT :limit
