-- Returns: one row, bytes: the size on disk of the database called `name`.
-- Params: name
SELECT pg_database_size(:name) AS bytes
