-- Returns: one row, version: the PostgreSQL server's version string.
-- Params:
SELECT version() AS version
