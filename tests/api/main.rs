//! Black-box tests: the real server on a random port, over HTTP, on SQLite and on PostgreSQL.

mod helpers;

mod auth;
mod cli;
mod conventions;
mod operations;
mod people;
