-- One evaluation per SLA and period (a rolling window: per episode of one status).
CREATE TABLE evaluations (
    id           TEXT PRIMARY KEY NOT NULL,
    sla_id       TEXT NOT NULL REFERENCES slas (id),
    version      INTEGER NOT NULL,
    period_start TIMESTAMP NOT NULL,
    period_end   TIMESTAMP NOT NULL,
    is_final     BOOLEAN NOT NULL DEFAULT FALSE,
    value        DOUBLE PRECISION,
    target       DOUBLE PRECISION NOT NULL,
    op           TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('met', 'breached', 'on_track', 'at_risk', 'no_data')),
    data_stale   BOOLEAN NOT NULL DEFAULT FALSE,
    details      TEXT NOT NULL,
    evaluated_at TIMESTAMP NOT NULL,
    UNIQUE (sla_id, period_start)
);
