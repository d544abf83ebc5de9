//! The `audit_log` table.

use diesel::prelude::*;

use super::schema::audit_log;
use super::{DbConn, to_db_time};
use crate::domain::audit::AuditEntry;

/// Appends one entry; call it in the transaction of the change it records.
pub fn record(conn: &mut DbConn, entry: &AuditEntry) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::id.eq(&entry.id),
            audit_log::at.eq(to_db_time(entry.at)),
            audit_log::actor.eq(&entry.actor),
            audit_log::action.eq(&entry.action),
            audit_log::entity_type.eq(&entry.entity_type),
            audit_log::entity_id.eq(&entry.entity_id),
            audit_log::before.eq(entry.before.as_ref().map(|v| v.to_string())),
            audit_log::after.eq(entry.after.as_ref().map(|v| v.to_string())),
        ))
        .execute(conn)?;
    Ok(())
}
