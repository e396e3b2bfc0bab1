-- Returns: nothing; the reported cases keyed by a fixed-length digest of issuer and serial
--   (`jobs.core.model.ledger_key`), with issuer and serial as text of any length beside it: a
--   serial longer than any column or index entry allows must not stop a run from recording.
-- Params:
CREATE TABLE revwatch_reported_cases_v5 (
    case_key    CHAR(64)    PRIMARY KEY,
    issuer      TEXT        NOT NULL,
    serial      TEXT        NOT NULL,
    run_id      VARCHAR(64) NOT NULL REFERENCES revwatch_runs (run_id),
    revoked_at  VARCHAR(40) NOT NULL,
    reported_at VARCHAR(40) NOT NULL
)
