DROP TABLE sla_approvals;
DROP TABLE sla_versions;
DROP TABLE slas;
DROP TABLE calendars;
