-- Returns: nothing; the digest-keyed cases take the table's name.
-- Params:
ALTER TABLE revwatch_reported_cases_v5 RENAME TO revwatch_reported_cases
