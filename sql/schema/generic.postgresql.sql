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
-- The subscriber index carries what the issuance watch's history reads (names, times, the key),
-- so each subscriber's certificates are read from the index alone (an index-only scan: at 10M
-- rows 4,711 subscribers' history took 44,000 heap pages without it; bench/README.md).
CREATE INDEX issuance_subscriber_issued ON issuance (subscriber, issued_at)
    INCLUDE (not_before, issuer_dn, serial, names);
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
-- Serial first: every look-up gives both columns, and the short, nearly unique serial makes a
-- shallower tree than the long issuer name (the watch probes it once per history row).
CREATE INDEX revocation_serial_issuer ON revocation (serial, issuer_dn);
