//! The audit trail: who changed what, when, from what to what.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One state change, recorded in the same transaction as the change itself.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Internal id (UUIDv7, so entries sort in the order they were written).
    pub id: String,
    /// When the change happened.
    pub at: DateTime<Utc>,
    /// Who made it: `user:<id>`, `token:<id>` or `system`.
    pub actor: String,
    /// What was done, e.g. `team.created`.
    pub action: String,
    /// Kind of the changed entity, e.g. `team`.
    pub entity_type: String,
    /// Its id (or key).
    pub entity_id: String,
    /// The entity before the change (absent on creation).
    pub before: Option<serde_json::Value>,
    /// The entity after the change (absent on deletion).
    pub after: Option<serde_json::Value>,
}
