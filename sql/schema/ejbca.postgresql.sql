-- EJBCA CE's tables that revwatch reads, PostgreSQL: names and types as EJBCA's own
-- doc/sql-scripts/create-tables-ejbca-postgres.sql writes them (unquoted, so PostgreSQL folds the
-- names to lower case), with the indexes of doc/sql-scripts/create-index-ejbca.sql that the
-- profile relies on. Times are epoch milliseconds (INT8); serialNumber is the decimal serial.
-- Tests and the benchmark build EJBCA databases with this file; revwatch itself never runs DDL.
CREATE TABLE CertificateData (
    fingerprint TEXT NOT NULL,
    base64Cert TEXT,
    cAFingerprint TEXT,
    certificateProfileId INT4 NOT NULL,
    crlPartitionIndex INT4,
    endEntityProfileId INT4,
    expireDate INT8 NOT NULL,
    invalidityDate INT8,
    issuerDN TEXT NOT NULL,
    notBefore INT8,
    revocationDate INT8 NOT NULL,
    revocationReason INT4 NOT NULL,
    rowProtection TEXT,
    rowVersion INT4 NOT NULL,
    serialNumber TEXT NOT NULL,
    status INT4 NOT NULL,
    subjectAltName TEXT,
    subjectDN TEXT NOT NULL,
    subjectKeyId TEXT,
    tag TEXT,
    type INT4 NOT NULL,
    updateTime INT8 NOT NULL,
    username TEXT,
    PRIMARY KEY (fingerprint)
);
CREATE TABLE Base64CertData (
    fingerprint TEXT NOT NULL,
    base64Cert TEXT,
    rowProtection TEXT,
    rowVersion INT4 NOT NULL,
    PRIMARY KEY (fingerprint)
);
CREATE TABLE NoConflictCertificateData (
    id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    base64Cert TEXT,
    cAFingerprint TEXT,
    certificateProfileId INT4 NOT NULL,
    crlPartitionIndex INT4,
    endEntityProfileId INT4,
    expireDate INT8 NOT NULL,
    invalidityDate INT8,
    issuerDN TEXT NOT NULL,
    notBefore INT8,
    revocationDate INT8 NOT NULL,
    revocationReason INT4 NOT NULL,
    rowProtection TEXT,
    rowVersion INT4 NOT NULL,
    serialNumber TEXT NOT NULL,
    status INT4 NOT NULL,
    subjectAltName TEXT,
    subjectDN TEXT NOT NULL,
    subjectKeyId TEXT,
    tag TEXT,
    type INT4 NOT NULL,
    updateTime INT8 NOT NULL,
    username TEXT,
    PRIMARY KEY (id)
);
CREATE TABLE CertReqHistoryData (
    fingerprint TEXT NOT NULL,
    issuerDN TEXT NOT NULL,
    rowProtection TEXT,
    rowVersion INT4 NOT NULL,
    serialNumber TEXT NOT NULL,
    timestamp INT8 NOT NULL,
    userDataVO TEXT NOT NULL,
    username TEXT NOT NULL,
    PRIMARY KEY (fingerprint)
);
CREATE TABLE AuditRecordData (
    pk TEXT NOT NULL,
    additionalDetails TEXT,
    authToken TEXT NOT NULL,
    customId TEXT,
    eventStatus TEXT NOT NULL,
    eventType TEXT NOT NULL,
    module TEXT NOT NULL,
    nodeId TEXT NOT NULL,
    rowProtection TEXT,
    rowVersion INT4 NOT NULL,
    searchDetail1 TEXT,
    searchDetail2 TEXT,
    sequenceNumber INT8 NOT NULL,
    service TEXT NOT NULL,
    timeStamp INT8 NOT NULL,
    PRIMARY KEY (pk)
);
CREATE INDEX auditrecorddata_idx3 ON AuditRecordData (timeStamp);
CREATE INDEX auditrecorddata_idx4 ON AuditRecordData (searchDetail2);
CREATE INDEX certificatedata_idx2 ON CertificateData (username);
CREATE INDEX certificatedata_idx5 ON CertificateData (type);
CREATE INDEX certificatedata_idx6 ON CertificateData (issuerDN, status);
CREATE UNIQUE INDEX certificatedata_idx12 ON CertificateData (serialNumber, issuerDN);
CREATE INDEX certificatedata_idx15 ON CertificateData (issuerDN, notBefore);
CREATE INDEX certificatedata_idx16 ON CertificateData (issuerDN, revocationDate);
CREATE INDEX historydata_idx1 ON CertReqHistoryData (username);
CREATE INDEX historydata_idx3 ON CertReqHistoryData (serialNumber);
CREATE INDEX noconflictcertificatedata_idx1 ON NoConflictCertificateData (serialNumber, issuerDN);
CREATE INDEX noconflictcertificatedata_idx2 ON NoConflictCertificateData (fingerprint);
CREATE INDEX noconflictcertificatedata_idx3 ON NoConflictCertificateData (issuerDN, status);
