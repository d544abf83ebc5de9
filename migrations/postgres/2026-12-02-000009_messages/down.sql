DROP TABLE held_messages;
ALTER TABLE outbox DROP COLUMN headers;
ALTER TABLE teams DROP COLUMN digest_sent_at;
ALTER TABLE teams DROP COLUMN digest_timezone;
ALTER TABLE teams DROP COLUMN digest_hour;
ALTER TABLE teams DROP COLUMN webhook_secret;
ALTER TABLE teams DROP COLUMN webhook_kind;
