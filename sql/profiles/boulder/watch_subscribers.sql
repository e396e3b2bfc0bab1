-- Returns: the ACME accounts (registrationID, as subscriber) with a final certificate issued in
--   [since, until): whose history the issuance watch reads (subscriber_names, in batches).
-- Params: since, until
-- Uses: certificates issued_idx (issued).
SELECT DISTINCT c.registrationID AS subscriber
FROM certificates AS c
WHERE c.issued >= :since
  AND c.issued < :until
