//! accord keeps the service-level agreements between departments and tells both sides when one
//! is broken.
//!
//! Layers, outside in: [`http`] (handlers) → [`service`] (use cases, one transaction each) →
//! [`store`] (diesel, SQLite and PostgreSQL) and [`domain`] (pure rules).

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod email;
pub mod error;
pub mod http;
pub mod import;
pub mod scheduler;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
