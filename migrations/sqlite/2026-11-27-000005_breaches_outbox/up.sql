-- Breaches: one per SLA and period (a rolling window: per episode), and the outbox of messages.

CREATE TABLE breaches (
    id               TEXT PRIMARY KEY NOT NULL,
    sla_id           TEXT NOT NULL REFERENCES slas (id),
    version          INTEGER NOT NULL,
    period_start     TIMESTAMP NOT NULL,
    period_end       TIMESTAMP NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'disputed', 'resolved', 'withdrawn')),
    value            DOUBLE,
    target           DOUBLE NOT NULL,
    op               TEXT NOT NULL,
    opened_at        TIMESTAMP NOT NULL,
    acknowledged_by  TEXT,
    acknowledged_at  TIMESTAMP,
    note             TEXT,
    disputed_by      TEXT,
    dispute_reason   TEXT,
    closed_at        TIMESTAMP,
    last_reminded_at TIMESTAMP,
    -- One breach per SLA and period, whoever evaluates and however often.
    UNIQUE (sla_id, period_start)
);
CREATE INDEX breaches_status ON breaches (status, opened_at);

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    payload         TEXT NOT NULL,
    -- The same message is enqueued once, however often the change that causes it is seen.
    dedupe_key      TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until    TIMESTAMP,
    last_error      TEXT,
    created_at      TIMESTAMP NOT NULL,
    sent_at         TIMESTAMP
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
