-- Returns: whether this session got the job's advisory lock (held until the session ends).
-- Params: key
SELECT pg_try_advisory_lock(:key) AS locked
