-- Returns: the successful CERT_REVOKED audit events of the given end entities (searchDetail2 is
--   the username): who (authToken), which CA (customId, Java hashCode of the issuer DN), which
--   certificate (searchDetail1, the serial in upper-case hex), when (timeStamp, epoch ms) and the
--   message (additionalDetails) that tells a revocation from a hold release or a reason change.
-- Params: usernames[]
-- Uses: auditrecorddata_idx4 (searchDetail2).
SELECT a.authToken AS auth_token,
       a.customId AS custom_id,
       a.searchDetail1 AS serial_hex,
       a.searchDetail2 AS username,
       a.timeStamp AS time_ms,
       a.additionalDetails AS details
FROM AuditRecordData AS a
WHERE a.searchDetail2 IN :usernames
  AND a.eventType = 'CERT_REVOKED'
  AND a.eventStatus = 'SUCCESS'
