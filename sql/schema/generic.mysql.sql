-- The generic schema, MySQL/MariaDB. DATETIME(6) columns hold UTC.
-- Serials are lower-case hex. names is the comma-separated list of subject alternative names
-- (NULL: take them from the DER).
CREATE TABLE issuance (
    issuer_dn   VARCHAR(250) NOT NULL,
    serial      VARCHAR(64)  NOT NULL,
    subscriber  VARCHAR(250),
    requester   VARCHAR(250),
    names       TEXT,
    subject_dn  VARCHAR(1000),
    not_before  DATETIME(6),
    not_after   DATETIME(6),
    issued_at   DATETIME(6),
    der         MEDIUMBLOB,
    PRIMARY KEY (issuer_dn, serial),
    INDEX issuance_subscriber_issued (subscriber, issued_at),
    INDEX issuance_issued (issued_at, not_before)
);
CREATE TABLE revocation (
    id          BIGINT AUTO_INCREMENT PRIMARY KEY,
    issuer_dn   VARCHAR(250) NOT NULL,
    serial      VARCHAR(64)  NOT NULL,
    revoked_at  DATETIME(6)  NOT NULL,
    reason_code INT,
    revoked_by  VARCHAR(250),
    comment     TEXT,
    INDEX revocation_revoked_at (revoked_at),
    INDEX revocation_issuer_serial (issuer_dn, serial)
);
