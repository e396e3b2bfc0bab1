-- Returns: nothing; the index behind reported_cases_by_serial.
-- Params:
CREATE INDEX revwatch_reported_cases_serial ON revwatch_reported_cases (serial)
