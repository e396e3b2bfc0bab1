-- Returns: the issuance watch's history, grouped in the database: for each of the given ACME
--   accounts (registrationID; the window's, from watch_subscribers), the DNS identifiers it
--   holds a valid authorization for (authz2: identifierType 0 = dns, status 1 = valid), one row
--   each (subscriber, name) with first_validated, its earliest validation (attemptedAt; NULL on
--   rows written before Boulder recorded it); at most per_subscriber identifiers per account, the
--   most recently valid first. Boulder keeps a certificate's names only in its DER; the account's
--   authorizations are where its domains are, by name, behind an index. One statement per batch
--   of at most 500 accounts (a night of 1,440 accounts: three), grouped in the database; the
--   registrable domains (Public Suffix List) are computed by the job. Why batches and the index
--   hint: over a semi-join on the window's certificates MariaDB grouped the 144,000 rows of 1M
--   (bench/plans.py) in an on-disk temporary table (a name is a 1 KB MEMORY column; 7-12 s of
--   15 s); a literal IN list below MariaDB's in_predicate_conversion_threshold (1,000) is a
--   range on this index, read in (account, name) order, so GROUP BY needs no temporary table.
-- Params: subscribers[], per_subscriber
-- Uses: authz2 regID_identifier_status_expires_idx (registrationID, identifierType,
--   identifierValue, status, expires).
SELECT g.subscriber, g.name, g.first_validated
FROM (
    SELECT a.registrationID AS subscriber,
           a.identifierValue AS name,
           MIN(a.attemptedAt) AS first_validated,
           ROW_NUMBER() OVER (PARTITION BY a.registrationID ORDER BY MAX(a.expires) DESC)
               AS position
    FROM authz2 AS a FORCE INDEX (regID_identifier_status_expires_idx)
    WHERE a.registrationID IN :subscribers
      AND a.identifierType = 0
      AND a.status = 1
    GROUP BY a.registrationID, a.identifierValue
) AS g
WHERE g.position <= :per_subscriber
