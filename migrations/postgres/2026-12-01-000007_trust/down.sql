ALTER TABLE outbox DROP COLUMN team_id;
-- Back to one external_id namespace: fails if two teams share an id.
ALTER TABLE events ADD CONSTRAINT events_external_id_key UNIQUE (external_id);
DROP INDEX events_team_external_id;
ALTER TABLE events DROP COLUMN submitted_by;
ALTER TABLE users DROP COLUMN token_generation;
