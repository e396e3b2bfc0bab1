-- Returns: every issuance row: the naive approach (P3) loads the whole table into pandas.
-- Params:
SELECT * FROM issuance
