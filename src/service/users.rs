//! People: accounts, roles and passwords.

use chrono::{DateTime, Utc};

use super::{Page, PageRequest, audit};
use crate::auth::Principal;
use crate::auth::credentials::hash_password;
use crate::auth::policy::{Action, Visibility};
use crate::domain::FieldErrors;
use crate::domain::identity::{Role, TeamRef, User};
use crate::domain::validate;
use crate::error::AppError;
use crate::store::{self, DbConn, write_tx};

/// What it takes to create an account.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Sign-in address (stored lowercase).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Team slug; required for heads and members.
    pub team: Option<String>,
    /// Role.
    pub role: Role,
    /// The password's argon2 hash, or why the password was refused (see [`NewPassword`]).
    pub password: NewPassword,
}

/// A new password as the services take it: checked and hashed beforehand, because hashing is
/// slow by design and needs no database connection (`Err`: the rule it breaks).
pub type NewPassword = Result<String, String>;

/// Checks and hashes a password on the calling thread (the command line; the HTTP layer uses
/// [`crate::auth::passwords::Passwords::hash`]).
pub fn new_password(clear: &str) -> Result<NewPassword, AppError> {
    if let Err(reason) = validate::password(clear) {
        return Ok(Err(reason));
    }
    Ok(Ok(hash_password(clear)?))
}

/// A password change: the new password, and for a change of one's own password the stored hash
/// that the current password was verified against (the change is refused if that hash is no
/// longer the stored one).
#[derive(Clone, Debug)]
pub struct PasswordChange {
    /// The new password.
    pub new: NewPassword,
    /// The hash the current password matched; `None` when it was not given or did not match.
    pub verified_against: Option<String>,
}

/// A partial change to an account; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserChanges {
    /// New display name.
    pub name: Option<String>,
    /// New sign-in address.
    pub email: Option<String>,
    /// New team slug.
    pub team: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New password.
    pub password: Option<PasswordChange>,
}

fn resolve_team(
    conn: &mut DbConn,
    slug: Option<&str>,
    errors: &mut FieldErrors,
) -> Result<Option<TeamRef>, AppError> {
    let Some(slug) = slug else { return Ok(None) };
    match store::teams::find_by_slug(conn, slug)? {
        Some(team) => Ok(Some(TeamRef {
            id: team.id,
            slug: team.slug,
        })),
        None => {
            errors.insert("team".into(), format!("no team with slug {slug:?}"));
            Ok(None)
        }
    }
}

fn check_user(user: &User, errors: &mut FieldErrors) {
    if let Err(e) = validate::email(&user.email) {
        errors.insert("email".into(), e);
    }
    if let Err(e) = validate::name(&user.name) {
        errors.insert("name".into(), e);
    }
    if user.role != Role::Admin && user.team.is_none() && !errors.contains_key("team") {
        errors.insert(
            "team".into(),
            format!("a {} must belong to a team", user.role),
        );
    }
}

fn checked_hash(password: &NewPassword, errors: &mut FieldErrors) -> Option<String> {
    match password {
        Ok(hash) => Some(hash.clone()),
        Err(reason) => {
            errors.insert("password".into(), reason.clone());
            None
        }
    }
}

/// Creates an account: an admin for anyone, a head for their own team (heads and members).
pub fn create(
    conn: &mut DbConn,
    actor: &Principal,
    new: NewUser,
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    let mut errors = FieldErrors::new();
    let hash = checked_hash(&new.password, &mut errors);
    write_tx(conn, |conn| {
        let team = resolve_team(conn, new.team.as_deref(), &mut errors)?;
        actor.authorize(Action::ManageUser {
            team: team.as_ref().map(|t| t.id.as_str()),
            role: new.role,
        })?;
        let user = User {
            id: store::new_id(),
            email: new.email.trim().to_lowercase(),
            name: new.name.trim().into(),
            team,
            role: new.role,
            created_at: now,
            updated_at: now,
            deactivated_at: None,
            token_generation: 0,
        };
        check_user(&user, &mut errors);
        AppError::check(errors)?;
        if store::users::find_credentials(conn, &user.email)?.is_some() {
            return Err(AppError::Conflict(format!(
                "an account for {} already exists",
                user.email
            )));
        }
        store::users::insert(conn, &user, &hash.unwrap_or_default())?;
        audit(
            conn,
            actor,
            "user.created",
            ("user", &user.id),
            (None, Some(&user)),
            now,
        )?;
        Ok(user)
    })
}

fn visible(actor: &Principal, user: &User) -> bool {
    match actor.visibility() {
        Visibility::All => true,
        Visibility::Team(team) => {
            user.team.as_ref().is_some_and(|t| t.id == team)
                || matches!(actor, Principal::User(me) if me.id == user.id)
        }
    }
}

/// One account, if the caller may see it (their own, their team's, or any for an admin).
pub fn get(conn: &mut DbConn, actor: &Principal, id: &str) -> Result<User, AppError> {
    actor.authorize(Action::ReadUsers)?;
    let user = store::users::find(conn, id)?.ok_or(AppError::NotFound("user"))?;
    if !visible(actor, &user) {
        return Err(AppError::Forbidden(
            "this account belongs to another team".into(),
        ));
    }
    Ok(user)
}

/// Accounts the caller may see, in creation order.
pub fn list(
    conn: &mut DbConn,
    actor: &Principal,
    page: &PageRequest,
) -> Result<Page<User>, AppError> {
    actor.authorize(Action::ReadUsers)?;
    let team = match actor.visibility() {
        Visibility::All => None,
        Visibility::Team(team) => Some(team),
    };
    let users = store::users::list(
        conn,
        team.as_deref(),
        page.after.as_deref(),
        page.fetch_limit(),
    )?;
    Ok(page.finish(users, |user| user.id.clone()))
}

/// Changes an account. Both the account as it is and as it would be must be the caller's to manage;
/// anyone may change their own name and password.
pub fn update(
    conn: &mut DbConn,
    actor: &Principal,
    id: &str,
    changes: UserChanges,
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    let mut errors = FieldErrors::new();
    let hash = changes
        .password
        .as_ref()
        .and_then(|change| checked_hash(&change.new, &mut errors));
    write_tx(conn, |conn| {
        // The row lock first: a concurrent change (a deactivation) is then read, not overwritten.
        store::users::lock(conn, id)?;
        let before = get(conn, actor, id)?;
        let is_self = matches!(actor, Principal::User(me) if me.id == before.id);
        if is_self && let Some(change) = &changes.password {
            let stored = store::users::password_hash(conn, id)?;
            match &change.verified_against {
                None => {
                    return Err(AppError::invalid(
                        "current_password",
                        "is required and must match to change your own password",
                    ));
                }
                Some(hash) if stored.as_ref() != Some(hash) => {
                    return Err(AppError::Conflict(
                        "the password changed meanwhile; try again".into(),
                    ));
                }
                Some(_) => {}
            }
        }
        let profile_only =
            changes.email.is_none() && changes.team.is_none() && changes.role.is_none();
        if !(is_self && profile_only) {
            actor.authorize(Action::ManageUser {
                team: before.team.as_ref().map(|t| t.id.as_str()),
                role: before.role,
            })?;
        }
        let mut user = before.clone();
        if let Some(slug) = changes.team.as_deref() {
            user.team = resolve_team(conn, Some(slug), &mut errors)?;
        }
        if let Some(role) = changes.role {
            user.role = role;
        }
        if let Some(email) = &changes.email {
            user.email = email.trim().to_lowercase();
        }
        if let Some(name) = &changes.name {
            user.name = name.trim().into();
        }
        if !(is_self && profile_only) {
            actor.authorize(Action::ManageUser {
                team: user.team.as_ref().map(|t| t.id.as_str()),
                role: user.role,
            })?;
        }
        check_user(&user, &mut errors);
        AppError::check(errors)?;
        if user.email != before.email
            && store::users::find_credentials(conn, &user.email)?.is_some()
        {
            return Err(AppError::Conflict(format!(
                "an account for {} already exists",
                user.email
            )));
        }
        user.updated_at = now;
        store::users::update(conn, &before, &user)?;
        if let Some(hash) = &hash {
            store::users::set_password_hash(conn, &user.id, hash, now)?;
        }
        audit(
            conn,
            actor,
            "user.updated",
            ("user", &user.id),
            (Some(&before), Some(&user)),
            now,
        )?;
        Ok(user)
    })
}

/// The stored password hash of an account (to check a current password against).
pub fn stored_password_hash(conn: &mut DbConn, id: &str) -> Result<Option<String>, AppError> {
    Ok(store::users::password_hash(conn, id)?)
}

/// Deactivates an account: it can no longer sign in and its tokens stop working at once.
/// The record stays, because approvals and the audit log refer to it.
pub fn deactivate(
    conn: &mut DbConn,
    actor: &Principal,
    id: &str,
    now: DateTime<Utc>,
) -> Result<User, AppError> {
    write_tx(conn, |conn| {
        store::users::lock(conn, id)?;
        let before = get(conn, actor, id)?;
        actor.authorize(Action::ManageUser {
            team: before.team.as_ref().map(|t| t.id.as_str()),
            role: before.role,
        })?;
        if matches!(actor, Principal::User(me) if me.id == before.id) {
            return Err(AppError::Conflict(
                "you cannot deactivate your own account".into(),
            ));
        }
        if before.deactivated_at.is_some() {
            return Ok(before);
        }
        let mut user = before.clone();
        user.deactivated_at = Some(now);
        user.updated_at = now;
        store::users::update(conn, &before, &user)?;
        audit(
            conn,
            actor,
            "user.deactivated",
            ("user", &user.id),
            (Some(&before), Some(&user)),
            now,
        )?;
        Ok(user)
    })
}
