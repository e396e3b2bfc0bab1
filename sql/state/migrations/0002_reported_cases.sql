-- Returns: nothing; creates the ledger of reported cases: a certificate (issuer AND serial) is
--   here once the mail server accepted a message carrying it, and never mailed again.
-- Params:
CREATE TABLE revwatch_reported_cases (
    issuer      TEXT        NOT NULL,
    serial      VARCHAR(80) NOT NULL,
    run_id      VARCHAR(64) NOT NULL REFERENCES revwatch_runs (run_id),
    revoked_at  VARCHAR(40) NOT NULL,
    reported_at VARCHAR(40) NOT NULL,
    PRIMARY KEY (issuer, serial)
)
