-- Returns: nothing; removes the cases a run staged (it failed: they were never accepted).
-- Params: run_id
DELETE FROM revwatch_reported_cases WHERE run_id = :run_id
