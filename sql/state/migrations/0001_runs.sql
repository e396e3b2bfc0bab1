-- Returns: nothing; creates the ledger of runs (one row per run that got as far as the CA query).
--   Times are ISO 8601 UTC text with microseconds, so text order is time order on every backend.
-- Params:
CREATE TABLE revwatch_runs (
    run_id            VARCHAR(64)  PRIMARY KEY,
    started_at        VARCHAR(40)  NOT NULL,
    finished_at       VARCHAR(40)  NOT NULL,
    window_since      VARCHAR(40)  NOT NULL,
    window_until      VARCHAR(40)  NOT NULL,
    threshold_seconds BIGINT       NOT NULL,
    cases_found       INTEGER      NOT NULL,
    cases_new         INTEGER      NOT NULL,
    outcome           VARCHAR(16)  NOT NULL,
    error             TEXT,
    message_id        VARCHAR(255),
    source            TEXT
)
