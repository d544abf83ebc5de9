DROP TABLE audit_log;
DROP TABLE settings;
DROP TABLE service_tokens;
DROP TABLE users;
DROP TABLE teams;
