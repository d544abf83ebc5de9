-- The change signal: a commit that touches what the status board or a caller's account reads
-- notifies the channel accord_changes (once per transaction: PostgreSQL folds equal
-- notifications), so every replica drops what it keeps in memory (see store/memo.rs).
CREATE FUNCTION accord_notify_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('accord_changes', '');
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER teams_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON teams
    FOR EACH STATEMENT EXECUTE FUNCTION accord_notify_change();
CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION accord_notify_change();
CREATE TRIGGER service_tokens_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON service_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION accord_notify_change();
CREATE TRIGGER sla_versions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sla_versions
    FOR EACH STATEMENT EXECUTE FUNCTION accord_notify_change();
CREATE TRIGGER evaluations_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON evaluations
    FOR EACH STATEMENT EXECUTE FUNCTION accord_notify_change();
-- An SLA's claims move on every scheduler tick and change nothing shown: only the rest counts.
CREATE TRIGGER slas_added_or_removed AFTER INSERT OR DELETE OR TRUNCATE ON slas
    FOR EACH STATEMENT EXECUTE FUNCTION accord_notify_change();
CREATE TRIGGER slas_changed AFTER UPDATE ON slas FOR EACH ROW
    WHEN ((OLD.key, OLD.status, OLD.provider_team_id, OLD.consumer_team_id, OLD.eval_error,
           OLD.stale_since)
          IS DISTINCT FROM
          (NEW.key, NEW.status, NEW.provider_team_id, NEW.consumer_team_id, NEW.eval_error,
           NEW.stale_since))
    EXECUTE FUNCTION accord_notify_change();

-- Metrics read the outbox by status and age at every scrape.
CREATE INDEX outbox_status_created ON outbox (status, created_at);
