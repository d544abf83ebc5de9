//! What happened to a breach, in order, for the people who may read it: from the audit log,
//! whose entries record every change of a breach with who made it.

use chrono::{DateTime, Utc};

use crate::auth::Principal;
use crate::domain::breach::Breach;
use crate::error::AppError;
use crate::store::{self, DbConn};

/// One step of a breach's life.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// When.
    pub at: DateTime<Utc>,
    /// `breach.opened`, `breach.acknowledged`, `breach.disputed`, `breach.resolved`, …
    pub action: String,
    /// Who: an email, `accord` for the evaluation, or `a service token`.
    pub who: String,
    /// The note or the reason given, if any.
    pub text: Option<String>,
}

/// The breach (the caller must be allowed to read breaches) and its steps, oldest first.
pub fn of_breach(
    conn: &mut DbConn,
    actor: &Principal,
    id: &str,
) -> Result<(Breach, Vec<Step>), AppError> {
    let breach = super::breaches::get(conn, actor, id)?;
    let filter = store::audit::AuditFilter {
        entity_type: Some("breach".into()),
        entity_id: Some(breach.id.clone()),
        ..Default::default()
    };
    let mut entries = store::audit::list(conn, &filter, None, 200)?;
    entries.reverse();
    let mut steps = Vec::new();
    for entry in entries {
        let who = who(conn, &entry.actor)?;
        let after = entry.after.as_ref();
        let field = |name: &str| {
            after
                .and_then(|a| a.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let text = match entry.action.as_str() {
            "breach.acknowledged" | "breach.resolved" => field("note"),
            "breach.disputed" => field("dispute_reason"),
            _ => None,
        };
        steps.push(Step {
            at: entry.at,
            action: entry.action,
            who,
            text,
        });
    }
    Ok((breach, steps))
}

/// An audit actor (`user:<id>`, `token:<id>`, `system`) as people read it: the account's email,
/// `a former account`, `a service token` or `accord`.
pub fn who(conn: &mut DbConn, actor: &str) -> Result<String, AppError> {
    Ok(match actor.split_once(':') {
        Some(("user", user_id)) => store::users::find(conn, user_id)?
            .map_or_else(|| "a former account".into(), |user| user.email),
        Some(("token", _)) => "a service token".into(),
        _ => "accord".into(),
    })
}
