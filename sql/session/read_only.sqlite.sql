-- Returns: nothing; this connection refuses every write, on top of the file opened `mode=ro`.
-- Params:
PRAGMA query_only = ON
