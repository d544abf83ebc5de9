ALTER TABLE breaches DROP COLUMN is_historical;
ALTER TABLE sla_versions DROP COLUMN calendar_snapshot;
ALTER TABLE slas DROP COLUMN stale_since;
ALTER TABLE slas DROP COLUMN eval_error_since;
ALTER TABLE slas DROP COLUMN eval_error;
