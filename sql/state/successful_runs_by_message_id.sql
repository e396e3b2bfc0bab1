-- Returns: the successful runs (a night, a recovery or a resend) that recorded this message.
-- Params: message_id
SELECT run_id FROM revwatch_runs WHERE message_id = :message_id AND outcome = 'success'
