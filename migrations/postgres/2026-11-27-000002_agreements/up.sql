-- Agreements: business-hours calendars, SLAs, their versions and the signatures on them.

CREATE TABLE calendars (
    id         TEXT PRIMARY KEY NOT NULL,
    key        TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    timezone   TEXT NOT NULL,
    hours      TEXT NOT NULL,
    holidays   TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE slas (
    id               TEXT PRIMARY KEY NOT NULL,
    key              TEXT NOT NULL UNIQUE,
    provider_team_id TEXT NOT NULL REFERENCES teams (id),
    consumer_team_id TEXT NOT NULL REFERENCES teams (id),
    status           TEXT NOT NULL CHECK (status IN ('proposed', 'active', 'rejected', 'retired')),
    created_by       TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    CHECK (provider_team_id <> consumer_team_id)
);
CREATE INDEX slas_provider ON slas (provider_team_id);
CREATE INDEX slas_consumer ON slas (consumer_team_id);

CREATE TABLE sla_versions (
    id              TEXT PRIMARY KEY NOT NULL,
    sla_id          TEXT NOT NULL REFERENCES slas (id),
    version         INTEGER NOT NULL,
    definition      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('proposed', 'active', 'superseded', 'rejected', 'retired')),
    proposed_by     TEXT NOT NULL,
    proposed_at     TIMESTAMP NOT NULL,
    decided_by      TEXT,
    decided_at      TIMESTAMP,
    reason          TEXT,
    effective_from  TIMESTAMP,
    effective_until TIMESTAMP,
    UNIQUE (sla_id, version)
);

CREATE TABLE sla_approvals (
    id             TEXT PRIMARY KEY NOT NULL,
    sla_version_id TEXT NOT NULL REFERENCES sla_versions (id),
    team_id        TEXT NOT NULL REFERENCES teams (id),
    user_id        TEXT NOT NULL REFERENCES users (id),
    at             TIMESTAMP NOT NULL,
    -- One signature per party and version: concurrent approvals of one team cannot both land.
    UNIQUE (sla_version_id, team_id)
);
