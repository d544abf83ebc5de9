//! Use cases: one function is one transaction. No HTTP, no network I/O; `now` comes from the caller.

pub mod bootstrap;
pub mod breaches;
pub mod calendars;
pub mod evaluation;
pub mod events;
pub mod evidence;
pub mod notify;
pub mod reports;
pub mod service_tokens;
pub mod slas;
pub mod teams;
pub mod timeline;
pub mod users;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::Principal;
use crate::domain::audit::AuditEntry;
use crate::error::AppError;
use crate::store::{self, DbConn};

/// Which slice of a list to read: at most `limit` items after the sort key `after`.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    /// Most items to return.
    pub limit: usize,
    /// Sort key of the last item already seen.
    pub after: Option<String>,
}

/// One slice of a list and the key to continue from, if more follow.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// The sort key of the last item, when another page follows.
    pub next_after: Option<String>,
}

impl PageRequest {
    /// How many rows to fetch: one more than the page, to learn whether another follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::try_from(self.limit)
            .unwrap_or(i64::MAX)
            .saturating_add(1)
    }

    /// Cuts what was fetched down to the page and notes where the next one starts.
    pub fn finish<T>(&self, mut items: Vec<T>, key: impl Fn(&T) -> String) -> Page<T> {
        let next_after = if items.len() > self.limit {
            items.truncate(self.limit);
            items.last().map(key)
        } else {
            None
        };
        Page { items, next_after }
    }
}

/// Records a state change in the audit log; call it inside the change's transaction.
pub fn audit<T: Serialize>(
    conn: &mut DbConn,
    actor: &Principal,
    action: &str,
    entity: (&str, &str),
    change: (Option<&T>, Option<&T>),
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let to_json = |value: Option<&T>| value.map(serde_json::to_value).transpose();
    let entry = AuditEntry {
        id: store::new_id(),
        at: now,
        actor: actor.actor(),
        action: action.into(),
        entity_type: entity.0.into(),
        entity_id: entity.1.into(),
        before: to_json(change.0).map_err(anyhow::Error::from)?,
        after: to_json(change.1).map_err(anyhow::Error::from)?,
    };
    Ok(store::audit::record(conn, &entry)?)
}

/// The audit log, newest first (admins and heads).
pub fn audit_log(
    conn: &mut DbConn,
    actor: &Principal,
    filter: &store::audit::AuditFilter,
    page: &PageRequest,
) -> Result<Page<AuditEntry>, AppError> {
    actor.authorize(crate::auth::policy::Action::ReadAudit)?;
    let mut filter = filter.clone();
    filter.concerning_team = match actor.visibility() {
        crate::auth::policy::Visibility::All => None,
        crate::auth::policy::Visibility::Team(team) => Some(team),
    };
    let entries = store::audit::list(conn, &filter, page.after.as_deref(), page.fetch_limit())?;
    Ok(page.finish(entries, |entry| entry.id.clone()))
}
