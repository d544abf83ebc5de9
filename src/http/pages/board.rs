//! `/`: the board. The agreements of the viewer's team (admins and team-less links: all), each
//! with its status, value, period and history chart; open breaches; overdue leads.

use actix_web::web;
use askama::Template;
use chrono::{DateTime, Utc};

use super::chart::{self, Bar};
use super::{Chrome, PageResult, Viewer, html};
use crate::auth::Principal;
use crate::auth::policy::Action;
use crate::domain::evaluation::Evaluation;
use crate::domain::identity::Role;
use crate::domain::period::PeriodKind;
use crate::domain::present;
use crate::domain::sla::{Definition, Metric, Window};
use crate::error::AppError;
use crate::service::{self, PageRequest};
use crate::startup::AppState;
use crate::store::DbConn;

/// How many past periods a chart shows.
const CHART_PERIODS: usize = 12;
/// How many seconds a shared wall screen waits before it reloads.
const WALL_REFRESH_SECS: u32 = 60;

/// One agreement on the board.
pub struct Line {
    pub key: String,
    pub name: String,
    pub provider: String,
    pub consumer: String,
    pub status: String,
    pub status_words: &'static str,
    pub value: String,
    pub sentence: String,
    pub target: String,
    pub period: Option<present::PeriodName>,
    pub note: Option<String>,
    pub chart: String,
    pub overdue: Vec<Late>,
}

/// A lead past (or near) its deadline.
pub struct Late {
    pub subject: String,
    pub words: String,
}

/// An open breach on the board.
pub struct OpenBreach {
    pub id: String,
    pub sla: String,
    pub period: String,
    pub value: String,
    pub target: String,
    pub status: String,
    pub status_words: &'static str,
    pub note: String,
}

#[derive(Template)]
#[template(path = "pages/board.html")]
struct BoardPage {
    chrome: Chrome,
    scope: String,
    lines: Vec<Line>,
    breaches: Option<Vec<OpenBreach>>,
    may_propose: bool,
    shared: bool,
    now: String,
}

/// The label under a chart's bar: `W46`, `Nov`, `Q4`, `9 Nov`.
pub fn bar_label(definition: &Definition, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    match &definition.window {
        Window::Calendar { period, timezone } => {
            let local = start.with_timezone(timezone);
            match period {
                PeriodKind::Day => local.format("%-d %b").to_string(),
                PeriodKind::Week => local.format("W%V").to_string(),
                PeriodKind::Month => local.format("%b").to_string(),
                PeriodKind::Quarter => {
                    use chrono::Datelike;
                    format!("Q{}", (local.month() - 1) / 3 + 1)
                }
            }
        }
        Window::Rolling { .. } => end.format("%-d %b").to_string(),
    }
}

/// The unit axis numbers carry.
pub fn unit(definition: &Definition) -> &'static str {
    match definition.metric {
        Metric::Count { .. } => "",
        Metric::Ratio { .. } | Metric::ResponseTime { .. } => "%",
    }
}

/// The history chart of `definition` over `history`.
pub fn history_chart(definition: &Definition, history: &[Evaluation]) -> String {
    // Ratios are stored as fractions and drawn, like response times, in percent.
    let scale = match definition.metric {
        Metric::Ratio { .. } => 100.0,
        _ => 1.0,
    };
    let bars: Vec<Bar> = history
        .iter()
        .map(|e| {
            let period = present::period(definition, e.period_start, e.period_end);
            let reading = present::reading(definition, e.value, e.op, e.target, &e.details);
            Bar {
                label: bar_label(definition, e.period_start, e.period_end),
                value: e.value.map(|v| v * scale),
                status: e.status.as_str().to_string(),
                title: format!(
                    "{}: {} ({})",
                    period.label,
                    reading.value,
                    present::status_words(e.status.as_str())
                ),
            }
        })
        .collect();
    chart::svg(
        &bars,
        definition.objective.target * scale,
        unit(definition),
        &format!(
            "{} over the last {} periods against the target, {}",
            definition.name,
            bars.len(),
            present::reading(
                definition,
                None,
                definition.objective.op,
                definition.objective.target,
                &serde_json::Value::Null
            )
            .target
        ),
    )
}

/// The last [`CHART_PERIODS`] stored periods that have begun, oldest first.
pub fn recent_history(
    conn: &mut DbConn,
    actor: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Evaluation>, AppError> {
    let page = PageRequest {
        limit: 1000,
        after: None,
    };
    let mut history = service::evaluation::history(conn, actor, key, None, None, &page)?.items;
    history.retain(|e| e.period_start <= now);
    let keep = history.len().saturating_sub(CHART_PERIODS);
    history.drain(..keep);
    Ok(history)
}

/// The team whose agreements the viewer sees first: a head's or member's own; admins see all.
fn scope_of(actor: &Principal) -> Option<String> {
    match actor {
        Principal::User(user) if user.role == Role::Admin => None,
        other => other.team().map(|t| t.slug.clone()),
    }
}

fn load(
    conn: &mut DbConn,
    actor: &Principal,
    board: Vec<service::reports::StatusLine>,
    now: DateTime<Utc>,
) -> Result<(Vec<Line>, Option<Vec<OpenBreach>>), AppError> {
    let mut lines = Vec::new();
    for line in board {
        let agreement = service::slas::get(conn, actor, &line.sla)?;
        let Some(version) = agreement.current(now) else {
            continue;
        };
        let definition = &version.definition;
        let history = recent_history(conn, actor, &line.sla, now)?;
        let status = line.status_or("pending").to_string();
        let (value, sentence, target) = match &line.evaluation {
            Some(e) => {
                let r = present::reading(definition, e.value, e.op, e.target, &e.details);
                (r.value, r.sentence, r.target)
            }
            None => {
                let r = present::reading(
                    definition,
                    None,
                    definition.objective.op,
                    definition.objective.target,
                    &serde_json::Value::Null,
                );
                (r.value, "Not evaluated yet".into(), r.target)
            }
        };
        let note = match &line.error {
            Some(reason) => Some(format!("Cannot evaluate: {reason}")),
            None if line.evaluation.as_ref().is_some_and(|e| e.data_stale) => {
                Some("The activity data is stale: no events have arrived lately.".into())
            }
            None => None,
        };
        let overdue = if line.overdue.is_some_and(|n| n > 0) && line.error.is_none() {
            service::evaluation::violations(conn, actor, &line.sla, now)?
                .into_iter()
                .filter(|i| i.overdue)
                .take(5)
                .map(|i| Late {
                    words: format!("{} overdue", present::duration(i.overdue_secs)),
                    subject: i.subject_id,
                })
                .collect()
        } else {
            Vec::new()
        };
        lines.push(Line {
            chart: history_chart(definition, &history),
            period: line
                .evaluation
                .as_ref()
                .map(|e| present::period(definition, e.period_start, e.period_end)),
            status_words: present::status_words(&status),
            key: line.sla,
            name: line.name,
            provider: line.provider,
            consumer: line.consumer,
            status,
            value,
            sentence,
            target,
            note,
            overdue,
        });
    }
    let breaches = if actor.allows(Action::ReadBreaches) {
        let page = PageRequest {
            limit: 50,
            after: None,
        };
        let mut shown = Vec::new();
        for b in service::breaches::list(conn, actor, Default::default(), &page)?.items {
            if !b.status.is_live() {
                continue;
            }
            let agreement = service::slas::get(conn, actor, &b.sla)?;
            let Some(version) = agreement.versions.iter().find(|v| v.version == b.version) else {
                continue;
            };
            let definition = &version.definition;
            let reading = present::reading(
                definition,
                b.value,
                b.op,
                b.target,
                &serde_json::Value::Null,
            );
            shown.push(OpenBreach {
                period: present::period(definition, b.period_start, b.period_end).full(),
                sla: definition.name.clone(),
                value: reading.value,
                target: reading.target,
                status: b.status.as_str().to_string(),
                status_words: present::status_words(b.status.as_str()),
                note: b
                    .dispute_reason
                    .clone()
                    .or(b.note.clone())
                    .unwrap_or_default(),
                id: b.id,
            });
        }
        Some(shown)
    } else {
        None
    };
    Ok((lines, breaches))
}

/// The board.
pub async fn board(state: web::Data<AppState>, viewer: Viewer) -> PageResult {
    let now = state.clock.now();
    let actor = viewer.principal.clone();
    // The lines come from the same kept board as `/status` and Slack.
    let scope = scope_of(&actor);
    let board: Vec<_> = service::reports::current_board(&state.db, now)
        .await?
        .lines_for(&actor, scope.as_deref())?
        .into_iter()
        .cloned()
        .collect();
    let (lines, breaches) = state
        .db
        .run(move |conn| load(conn, &actor, board, now))
        .await?;
    let shared = viewer.person.is_none();
    let mut chrome = viewer.chrome("Where the agreements stand");
    if shared {
        chrome.refresh = Some(WALL_REFRESH_SECS);
    }
    let scope = match scope_of(&viewer.principal) {
        Some(team) => format!("The agreements {team} is a party to"),
        None => "Every agreement in force".into(),
    };
    // Whether the viewer may propose for their own team at all (the form checks the parties).
    let own = viewer
        .principal
        .team()
        .map(|t| t.id.clone())
        .unwrap_or_default();
    let may_propose = viewer.person.is_some()
        && viewer.principal.allows(Action::ProposeSla {
            provider: &own,
            consumer: &own,
        });
    html(BoardPage {
        chrome,
        scope,
        lines,
        breaches,
        may_propose,
        shared,
        now: now.format("%a %-d %b %Y, %H:%M UTC").to_string(),
    })
}
