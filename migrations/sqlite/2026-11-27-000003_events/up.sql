-- Activity events. `id` follows the order of arrival; `external_id` makes ingestion idempotent.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    subject_id  TEXT NOT NULL,
    team_id     TEXT NOT NULL REFERENCES teams (id),
    occurred_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    attributes  TEXT NOT NULL
);
-- Counting a kind over a period, and finding a subject's first answer after a start.
CREATE INDEX events_kind_occurred ON events (kind, occurred_at);
CREATE INDEX events_subject_kind_occurred ON events (subject_id, kind, occurred_at);
