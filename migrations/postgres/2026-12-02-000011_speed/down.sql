DROP INDEX outbox_status_created;
DROP TRIGGER slas_changed ON slas;
DROP TRIGGER slas_added_or_removed ON slas;
DROP TRIGGER evaluations_changed ON evaluations;
DROP TRIGGER sla_versions_changed ON sla_versions;
DROP TRIGGER service_tokens_changed ON service_tokens;
DROP TRIGGER users_changed ON users;
DROP TRIGGER teams_changed ON teams;
DROP FUNCTION accord_notify_change();
