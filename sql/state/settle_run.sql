-- Returns: nothing; settles a staged run (`sending`) as `success` or `failed`.
-- Params: run_id, outcome, finished_at, error, refused
UPDATE revwatch_runs
SET outcome = :outcome, finished_at = :finished_at, error = :error, refused = :refused
WHERE run_id = :run_id AND outcome = 'sending'
