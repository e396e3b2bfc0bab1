-- Returns: nothing; a Message-ID's domain may be long (SQLite ignores declared lengths anyway).
-- Params:
ALTER TABLE revwatch_runs ALTER COLUMN message_id TYPE TEXT
