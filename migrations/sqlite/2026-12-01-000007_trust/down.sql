ALTER TABLE outbox DROP COLUMN team_id;
-- Back to one external_id namespace: fails if two teams share an id.
CREATE TABLE events_old (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    subject_id  TEXT NOT NULL,
    team_id     TEXT NOT NULL REFERENCES teams (id),
    occurred_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    attributes  TEXT NOT NULL
);
INSERT INTO events_old (id, external_id, kind, subject_id, team_id, occurred_at, received_at, attributes)
    SELECT id, external_id, kind, subject_id, team_id, occurred_at, received_at, attributes FROM events;
DROP TABLE events;
ALTER TABLE events_old RENAME TO events;
CREATE INDEX events_kind_occurred ON events (kind, occurred_at);
CREATE INDEX events_subject_kind_occurred ON events (subject_id, kind, occurred_at);
ALTER TABLE users DROP COLUMN token_generation;
