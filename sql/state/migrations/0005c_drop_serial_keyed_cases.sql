-- Returns: nothing; drops the cases keyed by (issuer, serial VARCHAR(80)), copied by 0005b.
-- Params:
DROP TABLE revwatch_reported_cases
