-- Returns: the reported cases among the given serials (the caller compares issuers too).
-- Params: serials[]
SELECT issuer, serial, run_id FROM revwatch_reported_cases WHERE serial IN :serials
