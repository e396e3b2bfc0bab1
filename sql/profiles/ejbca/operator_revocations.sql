-- Returns: one row per actor (authToken) of the successful CERT_REVOKED audit events with a
--   timeStamp in [since_ms, until_ms): operator, revocations. Events whose message says the
--   certificate was un-revoked (a hold release) or had its reason changed are not counted: EJBCA
--   writes "Revoked certificate..." for a revocation, as plain text or inside the java.beans XML
--   of additionalDetails; an event without details counts. A grouped count.
-- Params: since_ms, until_ms
-- Uses: auditrecorddata_idx3 (timeStamp).
SELECT a.authToken AS operator,
       COUNT(*) AS revocations
FROM AuditRecordData AS a
WHERE a.timeStamp >= :since_ms
  AND a.timeStamp < :until_ms
  AND a.eventType = 'CERT_REVOKED'
  AND a.eventStatus = 'SUCCESS'
  AND (a.additionalDetails IS NULL
       OR a.additionalDetails LIKE 'Revoked certificate%'
       OR a.additionalDetails LIKE '%>Revoked certificate%')
GROUP BY a.authToken
