-- Returns: revocation_audit bounded in time: the successful CERT_REVOKED audit events of the given
--   end entities (searchDetail2 is the username) with a timeStamp in [since_ms, until_ms): who
--   (authToken), which CA (customId), which certificate (searchDetail1, upper-case hex serial),
--   when (timeStamp, epoch ms) and the message (additionalDetails). The 30-day view's early
--   revocations are matched to these; an end entity's older events are not read.
-- Params: usernames[], since_ms, until_ms
-- Uses: auditrecorddata_idx4 (searchDetail2) or auditrecorddata_idx3 (timeStamp), the narrower.
SELECT a.authToken AS auth_token,
       a.customId AS custom_id,
       a.searchDetail1 AS serial_hex,
       a.searchDetail2 AS username,
       a.timeStamp AS time_ms,
       a.additionalDetails AS details
FROM AuditRecordData AS a
WHERE a.searchDetail2 IN :usernames
  AND a.timeStamp >= :since_ms
  AND a.timeStamp < :until_ms
  AND a.eventType = 'CERT_REVOKED'
  AND a.eventStatus = 'SUCCESS'
