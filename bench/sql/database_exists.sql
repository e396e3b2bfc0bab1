-- Returns: the database called `name`, if there is one (one row or none).
-- Params: name
SELECT datname FROM pg_database WHERE datname = :name
