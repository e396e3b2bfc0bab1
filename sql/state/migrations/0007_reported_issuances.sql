-- Returns: nothing; the suspicious issuances the issuance watch reported, keyed like the cases by
--   a digest of issuer and serial (`jobs.core.model.ledger_key`) but kept apart from them: a
--   certificate reported as a suspicious issuance and revoked early later is a case still.
-- Params:
CREATE TABLE revwatch_reported_issuances (
    issuance_key CHAR(64)    PRIMARY KEY,
    issuer       TEXT        NOT NULL,
    serial       TEXT        NOT NULL,
    run_id       VARCHAR(64) NOT NULL REFERENCES revwatch_runs (run_id),
    issued_at    VARCHAR(40),
    reported_at  VARCHAR(40) NOT NULL
)
