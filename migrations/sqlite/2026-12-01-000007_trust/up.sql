-- Trust between the parties.
-- Tokens issued to an account carry its generation; changing the password moves it on, which ends
-- every earlier token.
ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;

-- Events: `external_id` is unique per team (two teams' CRMs may use the same ids), and every event
-- records who submitted it (`user:<id>`, `token:<id>`, `system`; NULL for events stored before).
-- SQLite cannot drop a column's UNIQUE constraint, so the table is rebuilt with the same ids.
CREATE TABLE events_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    team_id      TEXT NOT NULL REFERENCES teams (id),
    occurred_at  TIMESTAMP NOT NULL,
    received_at  TIMESTAMP NOT NULL,
    attributes   TEXT NOT NULL,
    submitted_by TEXT
);
INSERT INTO events_new (id, external_id, kind, subject_id, team_id, occurred_at, received_at, attributes)
    SELECT id, external_id, kind, subject_id, team_id, occurred_at, received_at, attributes FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE UNIQUE INDEX events_team_external_id ON events (team_id, external_id);
CREATE INDEX events_kind_occurred ON events (kind, occurred_at);
CREATE INDEX events_subject_kind_occurred ON events (subject_id, kind, occurred_at);

-- The outbox records the team each message is sent for (NULL: to admins, or written before): a
-- head reads their team's messages by this, never by an address a head may change.
ALTER TABLE outbox ADD COLUMN team_id TEXT;
