-- The generic schema, PostgreSQL: the tables (or views) a CA maps its own database onto.
-- revwatch only reads them; the demo and the tests create them with this file.
-- Timestamps are timestamptz. Serials are lower-case hex. names is the comma-separated list of
-- subject alternative names (NULL: take them from the DER).
CREATE TABLE issuance (
    issuer_dn   TEXT        NOT NULL,
    serial      TEXT        NOT NULL,
    subscriber  TEXT,
    requester   TEXT,
    names       TEXT,
    subject_dn  TEXT,
    not_before  TIMESTAMPTZ,
    not_after   TIMESTAMPTZ,
    issued_at   TIMESTAMPTZ,
    der         BYTEA,
    PRIMARY KEY (issuer_dn, serial)
);
CREATE INDEX issuance_subscriber_issued ON issuance (subscriber, issued_at);
CREATE INDEX issuance_issued ON issuance (issued_at, not_before);
CREATE TABLE revocation (
    id          BIGSERIAL   PRIMARY KEY,
    issuer_dn   TEXT        NOT NULL,
    serial      TEXT        NOT NULL,
    revoked_at  TIMESTAMPTZ NOT NULL,
    reason_code INTEGER,
    revoked_by  TEXT,
    comment     TEXT
);
CREATE INDEX revocation_revoked_at ON revocation (revoked_at);
CREATE INDEX revocation_issuer_serial ON revocation (issuer_dn, serial);
