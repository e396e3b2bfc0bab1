-- Returns: nothing; the session's times are UTC, whatever the server's own time zone.
-- Params:
SET time_zone = '+00:00'
