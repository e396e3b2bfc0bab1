-- Returns: nothing; every transaction of this session is read-only (the job only SELECTs).
-- Params:
SET SESSION TRANSACTION READ ONLY
