//! Teams: the departments that sign SLAs.

use chrono::{DateTime, Utc};

use super::{Page, PageRequest, audit};
use crate::auth::Principal;
use crate::auth::policy::Action;
use crate::domain::FieldErrors;
use crate::domain::identity::{Digest, Team, WebhookKind};
use crate::domain::validate;
use crate::error::AppError;
use crate::store::{self, DbConn, write_tx};

/// What it takes to create a team.
#[derive(Clone, Debug)]
pub struct NewTeam {
    /// Public address, e.g. `marketing`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Distribution address for notifications.
    pub email: String,
    /// Optional webhook.
    pub webhook_url: Option<String>,
    /// What the webhook takes (Slack when absent).
    pub webhook_kind: Option<WebhookKind>,
    /// A daily digest of at-risk messages and reminders.
    pub digest: Option<DigestInput>,
}

/// A digest as asked for: checked before it is kept.
#[derive(Clone, Debug)]
pub struct DigestInput {
    /// Local hour, 0–23.
    pub hour: i64,
    /// IANA zone; UTC when absent.
    pub timezone: Option<String>,
}

/// A partial change to a team; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct TeamChanges {
    /// New display name.
    pub name: Option<String>,
    /// New distribution address.
    pub email: Option<String>,
    /// New webhook; `Some(None)` removes it.
    pub webhook_url: Option<Option<String>>,
    /// New webhook kind.
    pub webhook_kind: Option<WebhookKind>,
    /// A new secret for a generic webhook, replacing the old one.
    pub rotate_webhook_secret: bool,
    /// New digest; `Some(None)` turns it off.
    pub digest: Option<Option<DigestInput>>,
}

fn check_digest(errors: &mut FieldErrors, input: Option<&DigestInput>) -> Option<Digest> {
    let input = input?;
    let hour = u8::try_from(input.hour).ok().filter(|h| *h < 24);
    if hour.is_none() {
        errors.insert("digest.hour".into(), "must be an hour from 0 to 23".into());
    }
    let timezone = match input.timezone.as_deref() {
        None => Some(chrono_tz::UTC),
        Some(zone) => zone.parse::<chrono_tz::Tz>().ok(),
    };
    if timezone.is_none() {
        errors.insert(
            "digest.timezone".into(),
            "must be an IANA time zone such as Europe/Berlin".into(),
        );
    }
    Some(Digest {
        hour: hour?,
        timezone: timezone?,
    })
}

/// A new secret for signing generic webhook posts: 32 random bytes, `whsec_` + base64.
fn new_webhook_secret() -> String {
    use base64::Engine;
    use rand::Rng;
    let mut key = [0u8; 32];
    rand::rng().fill(&mut key);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// Gives a generic webhook a secret when it has none (or `rotate`), and takes it from other
/// kinds; returns the new secret, which is shown once.
fn settle_secret(team: &mut Team, rotate: bool) -> Option<String> {
    if team.webhook_kind != WebhookKind::Generic {
        team.webhook_secret = None;
        return None;
    }
    if team.webhook_secret.is_some() && !rotate {
        return None;
    }
    let secret = new_webhook_secret();
    team.webhook_secret = Some(secret.clone());
    Some(secret)
}

fn check_fields(errors: &mut FieldErrors, name: &str, email: &str, webhook_url: Option<&str>) {
    if let Err(e) = validate::name(name) {
        errors.insert("name".into(), e);
    }
    if let Err(e) = validate::email(email) {
        errors.insert("email".into(), e);
    }
    if let Some(Err(e)) = webhook_url.map(validate::http_url) {
        errors.insert("webhook_url".into(), e);
    }
}

/// Creates a team (admins only); with a generic webhook, also its new secret (shown once).
pub fn create(
    conn: &mut DbConn,
    actor: &Principal,
    new: NewTeam,
    now: DateTime<Utc>,
) -> Result<(Team, Option<String>), AppError> {
    actor.authorize(Action::CreateTeam)?;
    let mut errors = FieldErrors::new();
    if let Err(e) = validate::slug(&new.slug) {
        errors.insert("slug".into(), e);
    }
    check_fields(
        &mut errors,
        &new.name,
        &new.email,
        new.webhook_url.as_deref(),
    );
    let digest = check_digest(&mut errors, new.digest.as_ref());
    AppError::check(errors)?;
    let mut team = Team {
        id: store::new_id(),
        slug: new.slug,
        name: new.name.trim().into(),
        email: new.email,
        webhook_url: new.webhook_url,
        webhook_kind: new.webhook_kind.unwrap_or_default(),
        webhook_secret: None,
        digest,
        created_at: now,
        updated_at: now,
    };
    let secret = settle_secret(&mut team, false);
    write_tx(conn, |conn| {
        if store::teams::find_by_slug(conn, &team.slug)?.is_some() {
            return Err(AppError::Conflict(format!(
                "a team with slug {:?} already exists",
                team.slug
            )));
        }
        store::teams::insert(conn, &team)?;
        audit(
            conn,
            actor,
            "team.created",
            ("team", &team.slug),
            (None, Some(&team)),
            now,
        )?;
        Ok((team, secret))
    })
}

/// Changes a team (an admin, or a head of that team); with a new generic webhook secret, also
/// that secret (shown once).
pub fn update(
    conn: &mut DbConn,
    actor: &Principal,
    slug: &str,
    changes: TeamChanges,
    now: DateTime<Utc>,
) -> Result<(Team, Option<String>), AppError> {
    write_tx(conn, |conn| {
        store::teams::lock(conn, slug)?;
        let before = store::teams::find_by_slug(conn, slug)?.ok_or(AppError::NotFound("team"))?;
        actor.authorize(Action::UpdateTeam { team: &before.id })?;
        let mut team = before.clone();
        if let Some(name) = changes.name {
            team.name = name.trim().into();
        }
        if let Some(email) = changes.email {
            team.email = email;
        }
        if let Some(webhook_url) = changes.webhook_url {
            team.webhook_url = webhook_url;
        }
        if let Some(kind) = changes.webhook_kind {
            team.webhook_kind = kind;
        }
        let mut errors = FieldErrors::new();
        check_fields(
            &mut errors,
            &team.name,
            &team.email,
            team.webhook_url.as_deref(),
        );
        if let Some(digest) = changes.digest {
            team.digest = check_digest(&mut errors, digest.as_ref());
        }
        AppError::check(errors)?;
        let secret = settle_secret(&mut team, changes.rotate_webhook_secret);
        if team == before {
            return Ok((team, None));
        }
        team.updated_at = now;
        store::teams::update(conn, &before, &team)?;
        audit(
            conn,
            actor,
            "team.updated",
            ("team", &team.slug),
            (Some(&before), Some(&team)),
            now,
        )?;
        Ok((team, secret))
    })
}

/// A team as `actor` may see it: its webhook URL is a secret, shown only to an admin and the
/// team's heads (others learn whether one is set).
pub fn seen_by(actor: &Principal, team: Team) -> TeamView {
    let webhook_visible = actor.allows(Action::ReadTeamSecrets { team: &team.id });
    TeamView {
        team,
        webhook_visible,
    }
}

/// A team with what its reader may see of it.
#[derive(Clone, Debug)]
pub struct TeamView {
    /// The team, secrets included: show `webhook_url` only when `webhook_visible`.
    pub team: Team,
    /// Whether the reader may see the webhook URL.
    pub webhook_visible: bool,
}

/// One team by slug.
pub fn get(conn: &mut DbConn, actor: &Principal, slug: &str) -> Result<TeamView, AppError> {
    actor.authorize(Action::ReadTeams)?;
    let team = store::teams::find_by_slug(conn, slug)?.ok_or(AppError::NotFound("team"))?;
    Ok(seen_by(actor, team))
}

/// Teams in slug order.
pub fn list(
    conn: &mut DbConn,
    actor: &Principal,
    page: &PageRequest,
) -> Result<Page<TeamView>, AppError> {
    actor.authorize(Action::ReadTeams)?;
    let teams = store::teams::list(conn, page.after.as_deref(), page.fetch_limit())?;
    let teams = teams.into_iter().map(|team| seen_by(actor, team)).collect();
    Ok(page.finish(teams, |view| view.team.slug.clone()))
}
