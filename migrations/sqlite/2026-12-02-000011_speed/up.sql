-- Metrics read the outbox by status and age at every scrape. (SQLite needs no change triggers:
-- a watching connection sees every commit through PRAGMA data_version, see store/memo.rs.)
CREATE INDEX outbox_status_created ON outbox (status, created_at);
