-- EJBCA CE's tables that revwatch reads, MySQL/MariaDB: names and types as EJBCA's own
-- doc/sql-scripts/create-tables-ejbca-mysql.sql writes them, with the indexes of
-- doc/sql-scripts/create-index-ejbca.sql that the profile relies on. MySQL table names are
-- case-sensitive on Linux (CertificateData, not certificatedata). Times are epoch milliseconds
-- (BIGINT); serialNumber is the decimal serial.
-- Tests and the benchmark build EJBCA databases with this file; revwatch itself never runs DDL.
CREATE TABLE CertificateData (
    fingerprint VARCHAR(250) BINARY NOT NULL,
    base64Cert LONGTEXT,
    cAFingerprint VARCHAR(250) BINARY,
    certificateProfileId INT(11) NOT NULL,
    crlPartitionIndex INT(11),
    endEntityProfileId INT(11),
    expireDate BIGINT(20) NOT NULL,
    invalidityDate BIGINT(20),
    issuerDN VARCHAR(250) BINARY NOT NULL,
    notBefore BIGINT(20),
    revocationDate BIGINT(20) NOT NULL,
    revocationReason INT(11) NOT NULL,
    rowProtection LONGTEXT,
    rowVersion INT(11) NOT NULL,
    serialNumber VARCHAR(250) BINARY NOT NULL,
    status INT(11) NOT NULL,
    subjectAltName VARCHAR(2000) BINARY,
    subjectDN VARCHAR(400) BINARY NOT NULL,
    subjectKeyId VARCHAR(250) BINARY,
    tag VARCHAR(250) BINARY,
    type INT(11) NOT NULL,
    updateTime BIGINT(20) NOT NULL,
    username VARCHAR(250) BINARY,
    PRIMARY KEY (fingerprint)
);
CREATE TABLE Base64CertData (
    fingerprint VARCHAR(250) BINARY NOT NULL,
    base64Cert LONGTEXT,
    rowProtection LONGTEXT,
    rowVersion INT(11) NOT NULL,
    PRIMARY KEY (fingerprint)
);
CREATE TABLE NoConflictCertificateData (
    id VARCHAR(250) BINARY NOT NULL,
    fingerprint VARCHAR(250) BINARY NOT NULL,
    base64Cert LONGTEXT,
    cAFingerprint VARCHAR(250) BINARY,
    certificateProfileId INT(11) NOT NULL,
    crlPartitionIndex INT(11),
    endEntityProfileId INT(11),
    expireDate BIGINT(20) NOT NULL,
    invalidityDate BIGINT(20),
    issuerDN VARCHAR(250) BINARY NOT NULL,
    notBefore BIGINT(20),
    revocationDate BIGINT(20) NOT NULL,
    revocationReason INT(11) NOT NULL,
    rowProtection LONGTEXT,
    rowVersion INT(11) NOT NULL,
    serialNumber VARCHAR(250) BINARY NOT NULL,
    status INT(11) NOT NULL,
    subjectAltName VARCHAR(2000) BINARY,
    subjectDN VARCHAR(400) BINARY NOT NULL,
    subjectKeyId VARCHAR(250) BINARY,
    tag VARCHAR(250) BINARY,
    type INT(11) NOT NULL,
    updateTime BIGINT(20) NOT NULL,
    username VARCHAR(250) BINARY,
    PRIMARY KEY (id)
);
CREATE TABLE CertReqHistoryData (
    fingerprint VARCHAR(250) BINARY NOT NULL,
    issuerDN VARCHAR(250) BINARY NOT NULL,
    rowProtection LONGTEXT,
    rowVersion INT(11) NOT NULL,
    serialNumber VARCHAR(250) BINARY NOT NULL,
    timestamp BIGINT(20) NOT NULL,
    userDataVO LONGTEXT NOT NULL,
    username VARCHAR(250) BINARY NOT NULL,
    PRIMARY KEY (fingerprint)
);
CREATE TABLE AuditRecordData (
    pk VARCHAR(250) BINARY NOT NULL,
    additionalDetails LONGTEXT,
    authToken VARCHAR(250) BINARY NOT NULL,
    customId VARCHAR(250) BINARY,
    eventStatus VARCHAR(250) BINARY NOT NULL,
    eventType VARCHAR(250) BINARY NOT NULL,
    module VARCHAR(250) BINARY NOT NULL,
    nodeId VARCHAR(250) BINARY NOT NULL,
    rowProtection LONGTEXT,
    rowVersion INT(11) NOT NULL,
    searchDetail1 VARCHAR(250) BINARY,
    searchDetail2 VARCHAR(250) BINARY,
    sequenceNumber BIGINT(20) NOT NULL,
    service VARCHAR(250) BINARY NOT NULL,
    timeStamp BIGINT(20) NOT NULL,
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
