-- Returns: the runs staged as `sending` and never settled (interrupted), oldest first.
-- Params:
SELECT run_id, message_id FROM revwatch_runs WHERE outcome = 'sending' ORDER BY started_at, run_id
