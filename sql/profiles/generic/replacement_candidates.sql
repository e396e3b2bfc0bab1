-- Returns: the certificates of the given subscribers whose issuance time (issued_at, else
--   not_before) lies in [earliest, latest]: the replacement candidates of one batch of cases.
--   One query per batch of cases, never one per case.
-- Params: subscribers[], earliest, latest
-- Uses: issuance_subscriber_issued (subscriber, issued_at).
SELECT issuer_dn,
       serial,
       subscriber,
       requester,
       names,
       subject_dn,
       not_before,
       not_after,
       issued_at,
       der
FROM issuance
WHERE subscriber IN :subscribers
  AND COALESCE(issued_at, not_before) >= :earliest
  AND COALESCE(issued_at, not_before) <= :latest
