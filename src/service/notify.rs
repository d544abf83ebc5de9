//! Writing messages to the outbox, inside the caller's transaction.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::agreement::Sla;
use crate::domain::identity::Team;
use crate::domain::message::{MessageFacts, chat_payload, render};
use crate::error::AppError;
use crate::service::breaches::Links;
use crate::store::outbox::NewMessage;
use crate::store::{self, DbConn};

/// Enqueues `facts` to each team's address, and to its webhook if it has one. `dedupe` names the
/// cause (e.g. `breach.opened:<breach id>`); the same cause never enqueues twice.
pub fn to_teams(
    conn: &mut DbConn,
    facts: &MessageFacts,
    teams: &[&Team],
    dedupe: &str,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let rendered = render(facts);
    let email = json!({"text": rendered.text, "html": rendered.html});
    let chat = chat_payload(facts);
    let mut queued = 0;
    for team in teams {
        let key = format!("{dedupe}:email:{}", team.slug);
        let message = NewMessage {
            kind: facts.kind,
            team_id: Some(&team.id),
            channel: "email",
            recipient: &team.email,
            subject: &rendered.subject,
            payload: &email,
            dedupe_key: &key,
        };
        queued += usize::from(store::outbox::enqueue(conn, message, now)?);
        if let Some(url) = &team.webhook_url {
            let key = format!("{dedupe}:webhook:{}", team.slug);
            let message = NewMessage {
                kind: facts.kind,
                team_id: Some(&team.id),
                channel: "webhook",
                recipient: url,
                subject: &rendered.subject,
                payload: &chat,
                dedupe_key: &key,
            };
            queued += usize::from(store::outbox::enqueue(conn, message, now)?);
        }
    }
    Ok(queued)
}

/// Enqueues `facts` by email to each address with the team (id) it is sent for: heads who must
/// sign, for instance, or admins (no team).
pub fn to_people(
    conn: &mut DbConn,
    facts: &MessageFacts,
    recipients: &[(String, Option<String>)],
    dedupe: &str,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let rendered = render(facts);
    let email = json!({"text": rendered.text, "html": rendered.html});
    let mut queued = 0;
    for (address, team_id) in recipients {
        let key = format!("{dedupe}:email:{address}");
        let message = NewMessage {
            kind: facts.kind,
            team_id: team_id.as_deref(),
            channel: "email",
            recipient: address,
            subject: &rendered.subject,
            payload: &email,
            dedupe_key: &key,
        };
        queued += usize::from(store::outbox::enqueue(conn, message, now)?);
    }
    Ok(queued)
}

/// Tells the admins that an SLA can no longer be evaluated, once per episode of failures
/// (`since` names the episode).
pub fn evaluation_failed(
    conn: &mut DbConn,
    sla: &Sla,
    reason: &str,
    since: DateTime<Utc>,
    links: &Links,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let key = &sla.key;
    let facts = MessageFacts {
        kind: "sla.evaluation_failed",
        sla_key: key.clone(),
        sla_name: key.clone(),
        provider: sla.provider.slug.clone(),
        consumer: sla.consumer.slug.clone(),
        period: format!("since {}", since.format("%Y-%m-%d %H:%M UTC")),
        version: 0,
        value: "not evaluated".into(),
        objective: "not judged while this lasts".into(),
        link: format!("{}/api/v1/slas/{key}", links.public_url),
        extra: Some(format!("Reason: {reason}")),
    };
    let admins: Vec<(String, Option<String>)> = store::users::admin_emails(conn)?
        .into_iter()
        .map(|email| (email, None))
        .collect();
    let dedupe = format!("sla.evaluation_failed:{key}:{}", since.timestamp_micros());
    to_people(conn, &facts, &admins, &dedupe, now)
}

/// The outbox, newest first, optionally of one status (admins and heads).
pub fn list(
    conn: &mut DbConn,
    actor: &crate::auth::Principal,
    status: Option<&str>,
    page: &crate::service::PageRequest,
) -> Result<crate::service::Page<store::outbox::OutboxMessage>, AppError> {
    actor.authorize(crate::auth::policy::Action::ManageNotifications)?;
    if let Some(status) = status
        && !["pending", "sent", "failed"].contains(&status)
    {
        return Err(AppError::BadRequest(format!(
            "status must be pending, sent or failed, not {status:?}"
        )));
    }
    let team = match actor.visibility() {
        crate::auth::policy::Visibility::All => None,
        crate::auth::policy::Visibility::Team(team) => Some(team),
    };
    let found = store::outbox::list(
        conn,
        status,
        team.as_deref(),
        page.after.as_deref(),
        page.fetch_limit(),
    )?;
    Ok(page.finish(found, |m| m.id.clone()))
}

/// Puts a failed message back in line, due now.
pub fn retry(
    conn: &mut DbConn,
    actor: &crate::auth::Principal,
    id: &str,
    now: DateTime<Utc>,
) -> Result<store::outbox::OutboxMessage, AppError> {
    actor.authorize(crate::auth::policy::Action::ManageNotifications)?;
    let message = store::outbox::find(conn, id)?.ok_or(AppError::NotFound("notification"))?;
    // A head retries only their own team's messages; others' are not theirs to know of.
    if let crate::auth::policy::Visibility::Team(team) = actor.visibility()
        && !store::outbox::is_to_team(conn, id, &team)?
    {
        return Err(AppError::NotFound("notification"));
    }
    if !store::outbox::retry(conn, id, now)? {
        return Err(AppError::Conflict(format!(
            "the notification is {}; only a failed one is retried",
            message.status
        )));
    }
    crate::service::audit(
        conn,
        actor,
        "notification.retried",
        ("notification", id),
        (None::<&String>, None),
        now,
    )?;
    store::outbox::find(conn, id)?.ok_or(AppError::NotFound("notification"))
}
