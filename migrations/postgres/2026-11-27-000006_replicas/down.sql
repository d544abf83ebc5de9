ALTER TABLE slas DROP COLUMN eval_claimed_until;
ALTER TABLE slas DROP COLUMN eval_claimed_by;
ALTER TABLE slas DROP COLUMN eval_due_at;
