//! Service tokens: revocable, scoped credentials for systems and bots.

use chrono::{DateTime, Utc};

use super::{Page, PageRequest, audit};
use crate::auth::Principal;
use crate::auth::credentials::{hash_service_token, new_service_token};
use crate::auth::policy::{Action, Visibility};
use crate::domain::FieldErrors;
use crate::domain::identity::{Scope, ServiceToken, TeamRef};
use crate::domain::validate;
use crate::error::AppError;
use crate::store::{self, DbConn, write_tx};

/// What it takes to issue a token.
#[derive(Clone, Debug)]
pub struct NewServiceToken {
    /// What it is for, e.g. `crm-sync`.
    pub name: String,
    /// Team slug; a head's token defaults to the head's team.
    pub team: Option<String>,
    /// What it may do; at least one.
    pub scopes: Vec<Scope>,
}

/// Issues a token; the secret is returned here once and only its hash is stored.
pub fn issue(
    conn: &mut DbConn,
    actor: &Principal,
    new: NewServiceToken,
    now: DateTime<Utc>,
) -> Result<(ServiceToken, String), AppError> {
    let created_by = match actor {
        Principal::User(user) => user.id.clone(),
        _ => {
            return Err(AppError::Forbidden(
                "only a person can issue service tokens".into(),
            ));
        }
    };
    write_tx(conn, |conn| {
        let mut errors = FieldErrors::new();
        if let Err(e) = validate::name(&new.name) {
            errors.insert("name".into(), e);
        }
        let mut scopes = new.scopes.clone();
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            let names: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            errors.insert(
                "scopes".into(),
                format!("at least one scope is required: {}", names.join(", ")),
            );
        }
        let team = match new.team.as_deref() {
            Some(slug) => match store::teams::find_by_slug(conn, slug)? {
                Some(team) => Some(TeamRef {
                    id: team.id,
                    slug: team.slug,
                }),
                None => {
                    errors.insert("team".into(), format!("no team with slug {slug:?}"));
                    None
                }
            },
            None if actor.role() == Some(crate::domain::identity::Role::Head) => {
                actor.team().cloned()
            }
            None => None,
        };
        actor.authorize(Action::ManageServiceTokens {
            team: team.as_ref().map(|t| t.id.as_str()),
        })?;
        AppError::check(errors)?;
        let secret = new_service_token();
        let token = ServiceToken {
            id: store::new_id(),
            name: new.name.trim().into(),
            team,
            scopes,
            created_by,
            created_at: now,
            revoked_at: None,
        };
        store::service_tokens::insert(conn, &token, &hash_service_token(&secret))?;
        audit(
            conn,
            actor,
            "service_token.issued",
            ("service_token", &token.id),
            (None, Some(&token)),
            now,
        )?;
        Ok((token, secret))
    })
}

/// Tokens the caller manages, in creation order.
pub fn list(
    conn: &mut DbConn,
    actor: &Principal,
    page: &PageRequest,
) -> Result<Page<ServiceToken>, AppError> {
    let team = match actor.visibility() {
        Visibility::All => None,
        Visibility::Team(team) => Some(team),
    };
    actor.authorize(Action::ManageServiceTokens {
        team: team.as_deref(),
    })?;
    let tokens = store::service_tokens::list(
        conn,
        team.as_deref(),
        page.after.as_deref(),
        page.fetch_limit(),
    )?;
    Ok(page.finish(tokens, |token| token.id.clone()))
}

/// Revokes a token: its next request is refused. Revoking twice changes nothing.
pub fn revoke(
    conn: &mut DbConn,
    actor: &Principal,
    id: &str,
    now: DateTime<Utc>,
) -> Result<ServiceToken, AppError> {
    write_tx(conn, |conn| {
        let before =
            store::service_tokens::find(conn, id)?.ok_or(AppError::NotFound("service token"))?;
        actor.authorize(Action::ManageServiceTokens {
            team: before.team.as_ref().map(|t| t.id.as_str()),
        })?;
        if before.revoked_at.is_some() {
            return Ok(before);
        }
        store::service_tokens::revoke(conn, id, now)?;
        let mut token = before.clone();
        token.revoked_at = Some(now);
        audit(
            conn,
            actor,
            "service_token.revoked",
            ("service_token", id),
            (Some(&before), Some(&token)),
            now,
        )?;
        Ok(token)
    })
}
