-- The evaluation lifecycle: an SLA whose evaluation fails is marked with the reason (and since
-- when, so the admins are told once per episode); a stale feed is one episode until data comes
-- back; a signed version keeps the calendar it was signed with; breaches of periods that ended
-- before their version was signed are historical (announced in a summary, never reminded).

ALTER TABLE slas ADD COLUMN eval_error TEXT;
ALTER TABLE slas ADD COLUMN eval_error_since TIMESTAMP;
ALTER TABLE slas ADD COLUMN stale_since TIMESTAMP;
ALTER TABLE sla_versions ADD COLUMN calendar_snapshot TEXT;
ALTER TABLE breaches ADD COLUMN is_historical BOOLEAN NOT NULL DEFAULT FALSE;
