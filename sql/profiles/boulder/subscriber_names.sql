-- Returns: the issuance watch's history, grouped in the database: for each ACME account
--   (registrationID) with a final certificate issued in [since, until), the DNS identifiers it
--   holds a valid authorization for (authz2: identifierType 0 = dns, status 1 = valid), one row
--   each (subscriber, name) with first_validated, its earliest validation (attemptedAt; NULL on
--   rows written before Boulder recorded it); at most per_subscriber identifiers per account, the
--   most recently valid first. Boulder keeps a certificate's names only in its DER; the account's
--   authorizations are where its domains are, by name, behind an index. One statement per night;
--   the registrable domains (Public Suffix List) are computed by the job.
-- Params: since, until, per_subscriber
-- Uses: certificates issued_idx (issued) for the window's accounts,
--   authz2 regID_identifier_status_expires_idx (registrationID, identifierType,
--   identifierValue, status, expires) for each one's identifiers.
SELECT g.subscriber, g.name, g.first_validated
FROM (
    SELECT a.registrationID AS subscriber,
           a.identifierValue AS name,
           MIN(a.attemptedAt) AS first_validated,
           ROW_NUMBER() OVER (PARTITION BY a.registrationID ORDER BY MAX(a.expires) DESC)
               AS position
    FROM authz2 AS a
    WHERE a.registrationID IN (
            SELECT c.registrationID FROM certificates AS c
            WHERE c.issued >= :since AND c.issued < :until)
      AND a.identifierType = 0
      AND a.status = 1
    GROUP BY a.registrationID, a.identifierValue
) AS g
WHERE g.position <= :per_subscriber
