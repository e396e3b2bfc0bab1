-- Returns: nothing; removes the suspicious issuances a run staged (it failed: never accepted).
-- Params: run_id
DELETE FROM revwatch_reported_issuances WHERE run_id = :run_id
