//! Black-box tests: the real server on a random port, over HTTP, on SQLite and on PostgreSQL.
#![expect(
    clippy::unwrap_used,
    reason = "in tests an unexpected None or Err is a failure, reported by the panic"
)]

mod helpers;
mod process;
mod smtp;

mod agreements;
mod auth;
mod backups;
mod cli;
mod conventions;
mod dispatch;
mod engine;
mod evaluations;
mod events;
mod hostile;
mod lifecycle;
mod matrix;
mod messages;
mod metrics;
mod notifications;
mod operations;
mod people;
mod replicas;
mod reports;
mod trust;
mod web;
