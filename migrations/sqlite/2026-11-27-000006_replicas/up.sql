-- Work shared by several `accord serve` replicas: which one evaluates an SLA, and until when.
-- A replica claims a due SLA by a conditional UPDATE; a claim that outlives its lease (the
-- replica died) may be taken over by another.

ALTER TABLE slas ADD COLUMN eval_due_at TIMESTAMP;
ALTER TABLE slas ADD COLUMN eval_claimed_by TEXT;
ALTER TABLE slas ADD COLUMN eval_claimed_until TIMESTAMP;
