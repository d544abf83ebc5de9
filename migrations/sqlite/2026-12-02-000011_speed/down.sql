DROP INDEX outbox_status_created;
