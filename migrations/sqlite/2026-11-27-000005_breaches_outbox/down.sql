DROP TABLE outbox;
DROP TABLE breaches;
