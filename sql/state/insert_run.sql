-- Returns: nothing; records one run.
-- Params: run_id, started_at, finished_at, window_since, window_until, threshold_seconds, cases_found, cases_new, outcome, error, message_id, source, refused
INSERT INTO revwatch_runs (run_id, started_at, finished_at, window_since, window_until,
                           threshold_seconds, cases_found, cases_new, outcome, error, message_id,
                           source, refused)
VALUES (:run_id, :started_at, :finished_at, :window_since, :window_until, :threshold_seconds,
        :cases_found, :cases_new, :outcome, :error, :message_id, :source, :refused)
