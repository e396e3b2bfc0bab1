-- The generic schema, SQLite (the embedded default, used by the demo).
-- Timestamps are ISO 8601 text in UTC ('2026-11-27 02:15:00', optionally with fraction and
-- '+00:00'). Serials are lower-case hex. names is the comma-separated list of subject alternative
-- names (NULL: take them from the DER).
CREATE TABLE issuance (
    issuer_dn   TEXT    NOT NULL,
    serial      TEXT    NOT NULL,
    subscriber  TEXT,
    requester   TEXT,
    names       TEXT,
    subject_dn  TEXT,
    not_before  TEXT,
    not_after   TEXT,
    issued_at   TEXT,
    der         BLOB,
    PRIMARY KEY (issuer_dn, serial)
);
CREATE INDEX issuance_subscriber_issued ON issuance (subscriber, issued_at);
CREATE INDEX issuance_issued ON issuance (issued_at, not_before);
CREATE TABLE revocation (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer_dn   TEXT    NOT NULL,
    serial      TEXT    NOT NULL,
    revoked_at  TEXT    NOT NULL,
    reason_code INTEGER,
    revoked_by  TEXT,
    comment     TEXT
);
CREATE INDEX revocation_revoked_at ON revocation (revoked_at);
CREATE INDEX revocation_issuer_serial ON revocation (issuer_dn, serial);
