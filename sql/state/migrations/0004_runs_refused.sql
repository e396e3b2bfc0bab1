-- Returns: nothing; adds the recipients a run's mail server refused ("address: reply" lines).
-- Params:
ALTER TABLE revwatch_runs ADD COLUMN refused TEXT
