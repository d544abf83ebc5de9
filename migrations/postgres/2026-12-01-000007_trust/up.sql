-- Trust between the parties.
-- Tokens issued to an account carry its generation; changing the password moves it on, which ends
-- every earlier token.
ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;

-- Events: `external_id` is unique per team (two teams' CRMs may use the same ids), and every event
-- records who submitted it (`user:<id>`, `token:<id>`, `system`; NULL for events stored before).
ALTER TABLE events ADD COLUMN submitted_by TEXT;
CREATE UNIQUE INDEX events_team_external_id ON events (team_id, external_id);
ALTER TABLE events DROP CONSTRAINT events_external_id_key;

-- The outbox records the team each message is sent for (NULL: to admins, or written before): a
-- head reads their team's messages by this, never by an address a head may change.
ALTER TABLE outbox ADD COLUMN team_id TEXT;
