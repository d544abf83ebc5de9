//! `/breaches/{id}`: what missed and when, the evidence, the timeline, and the actions the viewer
//! may take (acknowledge with a note, dispute with a reason, resolve), each through the same
//! service as the API.

use actix_web::{HttpRequest, web};
use askama::Template;

use super::sla::when;
use super::{Chrome, PageResult, Viewer, html, posted, see_other};
use crate::auth::policy::Action;
use crate::domain::breach::BreachStatus;
use crate::domain::present;
use crate::error::AppError;
use crate::service::{self, breaches::Handling};
use crate::startup::AppState;

struct Missed {
    subject: String,
    started: String,
    due: String,
    answered: String,
    late: String,
}

struct Step {
    at: String,
    what: &'static str,
    who: String,
    text: String,
}

#[derive(Template)]
#[template(path = "pages/breach.html")]
struct BreachPage {
    chrome: Chrome,
    csrf: String,
    id: String,
    key: String,
    name: String,
    provider: String,
    consumer: String,
    period: String,
    value: String,
    sentence: String,
    target: String,
    status: String,
    status_words: &'static str,
    opened: String,
    historical: bool,
    missed: Vec<Missed>,
    more: usize,
    pace: Option<String>,
    steps: Vec<Step>,
    may_acknowledge: bool,
    may_dispute: bool,
    may_resolve: bool,
}

fn step_words(action: &str) -> &'static str {
    match action {
        "breach.opened" => "Opened",
        "breach.reopened" => "Opened again",
        "breach.acknowledged" => "Acknowledged",
        "breach.disputed" => "Disputed",
        "breach.resolved" => "Resolved",
        "breach.withdrawn" => "Withdrawn: the period was judged again and met its target",
        _ => "Changed",
    }
}

/// The breach page.
pub async fn page(state: web::Data<AppState>, viewer: Viewer, id: web::Path<String>) -> PageResult {
    let (id, now) = (id.into_inner(), state.clock.now());
    let actor = viewer.principal.clone();
    let (breach, steps, agreement, evidence) = state
        .db
        .run(move |conn| {
            let (breach, steps) = service::timeline::of_breach(conn, &actor, &id)?;
            let agreement = service::slas::get(conn, &actor, &breach.sla)?;
            let evidence = service::evidence::for_breach(conn, &breach, now)?;
            Ok((breach, steps, agreement, evidence))
        })
        .await?;
    let version = agreement
        .versions
        .iter()
        .find(|v| v.version == breach.version)
        .ok_or(AppError::NotFound("sla version"))?;
    let definition = &version.definition;
    let zone = present::zone(definition);
    let when = |at| when(at, zone);
    let reading = present::reading(
        definition,
        breach.value,
        breach.op,
        breach.target,
        &evidence.details,
    );
    let (provider, consumer) = (&agreement.sla.provider.id, &agreement.sla.consumer.id);
    let signed_in = viewer.person.is_some();
    let allows = |action| signed_in && viewer.principal.allows(action);
    let mut shown_steps: Vec<Step> = steps
        .into_iter()
        .map(|s| Step {
            at: when(s.at),
            what: step_words(&s.action),
            who: s.who,
            text: s.text.unwrap_or_default(),
        })
        .collect();
    if shown_steps.is_empty() {
        shown_steps.push(Step {
            at: when(breach.opened_at),
            what: "Opened",
            who: "accord".into(),
            text: String::new(),
        });
    }
    if let Some(at) = breach.last_reminded_at {
        shown_steps.push(Step {
            at: when(at),
            what: "Last reminder sent to both teams",
            who: "accord".into(),
            text: String::new(),
        });
        shown_steps.sort_by(|a, b| a.at.cmp(&b.at));
    }
    let status = breach.status.as_str().to_string();
    html(BreachPage {
        chrome: viewer.chrome(format!("Breach of {}", definition.name)),
        csrf: viewer.csrf(),
        key: agreement.sla.key.clone(),
        name: definition.name.clone(),
        provider: agreement.sla.provider.slug.clone(),
        consumer: agreement.sla.consumer.slug.clone(),
        period: present::period(definition, breach.period_start, breach.period_end).full(),
        value: reading.value,
        sentence: reading.sentence,
        target: reading.target,
        status_words: present::status_words(&status),
        status,
        opened: when(breach.opened_at),
        historical: breach.is_historical,
        missed: evidence
            .missed
            .into_iter()
            .map(|m| Missed {
                subject: m.subject_id,
                started: when(m.started_at),
                due: m.due_at.map_or_else(|| "paused".into(), when),
                answered: m.answered_at.map_or_else(|| "not answered".into(), when),
                late: present::lateness(&definition.metric, m.late_by_secs),
            })
            .collect(),
        more: evidence.more,
        pace: evidence.pace,
        steps: shown_steps,
        may_acknowledge: breach.status == BreachStatus::Open
            && allows(Action::AcknowledgeBreach { provider, consumer }),
        may_dispute: matches!(
            breach.status,
            BreachStatus::Open | BreachStatus::Acknowledged
        ) && allows(Action::DisputeBreach { provider }),
        may_resolve: breach.status.is_live()
            && allows(Action::ResolveBreach { provider, consumer }),
        id: breach.id,
    })
}

async fn handle(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: String,
    body: web::Bytes,
    handling: impl FnOnce(&super::Form) -> Handling,
) -> PageResult {
    let (viewer, form) = posted(&req, &body).await?;
    let handling = handling(&form);
    let (now, links, actor) = (state.clock.now(), state.config.links(), viewer.principal);
    let page = format!("/breaches/{id}");
    state
        .db
        .run(move |conn| service::breaches::handle(conn, &actor, &id, handling, &links, now))
        .await?;
    see_other(&page)
}

/// Acknowledges the breach with the note given.
pub async fn acknowledge(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    handle(state, req, id.into_inner(), body, |form| {
        Handling::Acknowledge(form.text("note"))
    })
    .await
}

/// Disputes the breach with the reason given.
pub async fn dispute(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    handle(state, req, id.into_inner(), body, |form| {
        Handling::Dispute(form.text("reason"))
    })
    .await
}

/// Resolves the breach, with an optional note.
pub async fn resolve(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    handle(state, req, id.into_inner(), body, |form| {
        Handling::Resolve(form.get("note"))
    })
    .await
}
