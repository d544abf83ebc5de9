-- Messages a head can act on: a team chooses its webhook kind (a generic one is signed with the
-- team's secret) and may take at-risk messages and reminders as one daily digest; an outbox row
-- keeps the headers its delivery needs, so a retry sends the identical message; messages held
-- for a summary (the breaches of one evaluation cycle, a digest) wait in held_messages until one
-- outbox message carries them.

ALTER TABLE teams ADD COLUMN webhook_kind TEXT NOT NULL DEFAULT 'slack' CHECK (webhook_kind IN ('slack', 'teams', 'generic'));
ALTER TABLE teams ADD COLUMN webhook_secret TEXT;
ALTER TABLE teams ADD COLUMN digest_hour INTEGER CHECK (digest_hour BETWEEN 0 AND 23);
ALTER TABLE teams ADD COLUMN digest_timezone TEXT;
ALTER TABLE teams ADD COLUMN digest_sent_at TIMESTAMP;
ALTER TABLE outbox ADD COLUMN headers TEXT;

CREATE TABLE held_messages (
    id          TEXT PRIMARY KEY NOT NULL,
    team_id     TEXT NOT NULL REFERENCES teams (id),
    batch       TEXT NOT NULL CHECK (batch IN ('cycle', 'digest')),
    kind        TEXT NOT NULL,
    facts       TEXT NOT NULL,
    -- The same cause is held once, as the outbox enqueues it once.
    dedupe_key  TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMP NOT NULL,
    -- The outbox message that carried it (its dedupe key); NULL while held.
    released_in TEXT
);
CREATE INDEX held_messages_waiting ON held_messages (team_id, batch, released_in);
