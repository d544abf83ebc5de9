//! Pure types and rules: no database, no HTTP, no clock.

pub mod agreement;
pub mod audit;
pub mod breach;
pub mod calendar;
pub mod chat;
pub mod duration;
pub mod evaluation;
pub mod event;
pub mod identity;
pub mod message;
pub mod period;
pub mod present;
pub mod sla;
pub mod validate;

use std::collections::BTreeMap;

/// Field path → what is wrong with it; the shape of every validation failure.
pub type FieldErrors = BTreeMap<String, String>;
