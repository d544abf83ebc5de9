//! `/slas/{key}`: an agreement in words, its versions and who signed them, a proposal awaiting
//! signatures with what it changes, Approve / Reject for the heads who may, the history, and the
//! overdue and due-soon leads.

use actix_web::{HttpRequest, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::board::{history_chart, recent_history};
use super::{Chrome, PageResult, Viewer, html, posted, see_other};
use crate::auth::Principal;
use crate::auth::policy::Action;
use crate::domain::agreement::{Agreement, SlaVersion};
use crate::domain::present;
use crate::domain::sla::{Definition, Metric};
use crate::error::AppError;
use crate::service::{self, PageRequest};
use crate::startup::AppState;
use crate::store::DbConn;

/// When, as the pages say it.
pub fn when(at: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    present::moment(at, zone)
}

/// One version in the history.
struct VersionRow {
    version: i32,
    status: String,
    status_words: &'static str,
    proposed: String,
    signatures: Vec<String>,
    effective: String,
    reason: String,
}

/// One field a proposal changes.
struct Change {
    what: String,
    before: String,
    after: String,
}

/// The version awaiting signatures.
struct Pending {
    version: i32,
    words: String,
    proposed: String,
    changes: Vec<Change>,
    signed: Vec<String>,
    waiting_for: Vec<String>,
    may_sign: bool,
}

/// One period of the history table.
struct PeriodRow {
    label: String,
    dates: String,
    value: String,
    target: String,
    status: String,
    status_words: &'static str,
}

/// An unanswered lead.
struct Lead {
    subject: String,
    started: String,
    due: String,
    words: String,
    overdue: bool,
}

/// A live breach of this agreement.
struct BreachLink {
    id: String,
    period: String,
    status: String,
    status_words: &'static str,
}

#[derive(Template)]
#[template(path = "pages/sla.html")]
struct SlaPage {
    chrome: Chrome,
    csrf: String,
    key: String,
    name: String,
    description: String,
    provider: String,
    consumer: String,
    status: String,
    status_words: &'static str,
    words: String,
    version: i32,
    pending: Option<Pending>,
    versions: Vec<VersionRow>,
    chart: String,
    periods: Vec<PeriodRow>,
    leads: Option<Vec<Lead>>,
    breaches: Vec<BreachLink>,
    may_revise: bool,
}

/// The definition as flat `path → value` pairs, for comparing two versions.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, inner, out);
            }
        }
        Value::Null => {}
        Value::String(text) => out.push((prefix.to_string(), text.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// What `after` changes against `before`, field by field.
fn changes(before: &Definition, after: &Definition) -> Vec<Change> {
    let pairs = |d: &Definition| {
        let mut out = Vec::new();
        flatten("", &serde_json::to_value(d).unwrap_or_default(), &mut out);
        out
    };
    let (old, new) = (pairs(before), pairs(after));
    let mut paths: Vec<&String> = old.iter().chain(&new).map(|(p, _)| p).collect();
    paths.sort();
    paths.dedup();
    let find = |list: &[(String, String)], path: &str| {
        list.iter().find(|(p, _)| p == path).map(|(_, v)| v.clone())
    };
    paths
        .into_iter()
        .filter_map(|path| {
            let (b, a) = (find(&old, path), find(&new, path));
            (b != a).then(|| Change {
                what: path.replace('.', " › "),
                before: b.unwrap_or_else(|| "—".into()),
                after: a.unwrap_or_else(|| "—".into()),
            })
        })
        .collect()
}

fn version_row(v: &SlaVersion, proposer: &str) -> VersionRow {
    let zone = present::zone(&v.definition);
    let when = |at| when(at, zone);
    let effective = match (v.effective_from, v.effective_until) {
        (Some(from), Some(until)) => format!("{} to {}", when(from), when(until)),
        (Some(from), None) => format!("from {}", when(from)),
        _ => "—".into(),
    };
    VersionRow {
        version: v.version,
        status: v.status.as_str().to_string(),
        status_words: present::status_words(v.status.as_str()),
        proposed: format!("{proposer}, {}", when(v.proposed_at)),
        signatures: v
            .approvals
            .iter()
            .map(|a| format!("{} for {}, {}", a.user_email, a.team.slug, when(a.at)))
            .collect(),
        effective,
        reason: v.reason.clone().unwrap_or_default(),
    }
}

/// What the SLA page reads in one go.
struct Loaded {
    agreement: Agreement,
    /// Who proposed each version, as people read it (an email, not `user:<id>`).
    proposers: std::collections::HashMap<String, String>,
    history: Vec<crate::domain::evaluation::Evaluation>,
    leads: Option<Vec<Lead>>,
    breaches: Vec<BreachLink>,
}

fn load(
    conn: &mut DbConn,
    actor: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Loaded, AppError> {
    let agreement = service::slas::get(conn, actor, key)?;
    let mut proposers = std::collections::HashMap::new();
    for version in &agreement.versions {
        if !proposers.contains_key(&version.proposed_by) {
            let who = service::timeline::who(conn, &version.proposed_by)?;
            proposers.insert(version.proposed_by.clone(), who);
        }
    }
    let history = recent_history(conn, actor, key, now)?;
    let response_time = agreement
        .current(now)
        .is_some_and(|v| matches!(v.definition.metric, Metric::ResponseTime { .. }));
    let zone = agreement
        .current(now)
        .map_or(chrono_tz::UTC, |v| present::zone(&v.definition));
    let when = |at| when(at, zone);
    let leads = if response_time && agreement.in_force(now).is_some() {
        Some(
            service::evaluation::violations(conn, actor, key, now)?
                .into_iter()
                .take(50)
                .map(|i| Lead {
                    subject: i.subject_id,
                    started: when(i.started_at),
                    due: i.due_at.map_or_else(|| "paused".into(), when),
                    words: if i.overdue {
                        format!("{} overdue", present::duration(i.overdue_secs))
                    } else {
                        format!("{} left", present::duration(-i.overdue_secs))
                    },
                    overdue: i.overdue,
                })
                .collect(),
        )
    } else {
        None
    };
    let breaches = if actor.allows(Action::ReadBreaches) {
        let filter = crate::store::breaches::BreachFilter {
            sla: Some(key.to_string()),
            ..Default::default()
        };
        let page = PageRequest {
            limit: 20,
            after: None,
        };
        service::breaches::list(conn, actor, filter, &page)?
            .items
            .into_iter()
            .filter_map(|b| {
                let version = agreement.versions.iter().find(|v| v.version == b.version)?;
                Some(BreachLink {
                    period: present::period(&version.definition, b.period_start, b.period_end)
                        .full(),
                    status: b.status.as_str().to_string(),
                    status_words: present::status_words(b.status.as_str()),
                    id: b.id,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Loaded {
        agreement,
        proposers,
        history,
        leads,
        breaches,
    })
}

/// The SLA page.
pub async fn page(
    state: web::Data<AppState>,
    viewer: Viewer,
    key: web::Path<String>,
) -> PageResult {
    let (key, now) = (key.into_inner(), state.clock.now());
    let actor = viewer.principal.clone();
    let Loaded {
        agreement,
        proposers,
        history,
        leads,
        breaches,
    } = state
        .db
        .run(move |conn| load(conn, &actor, &key, now))
        .await?;
    let shown = agreement
        .current(now)
        .ok_or_else(|| anyhow::anyhow!("SLA {} has no version", agreement.sla.key))?;
    let definition = &shown.definition;
    let (provider_id, consumer_id) = (&agreement.sla.provider.id, &agreement.sla.consumer.id);
    let own_team = viewer.principal.team().map(|t| t.id.clone());
    let proposer = |actor: &str| {
        proposers
            .get(actor)
            .map_or(actor, String::as_str)
            .to_string()
    };
    let pending = agreement.pending().map(|p| {
        let against = agreement.in_force(now).or(agreement.last_signed());
        let parties = [&agreement.sla.provider, &agreement.sla.consumer];
        Pending {
            version: p.version,
            words: present::definition_in_words(&p.definition),
            proposed: format!(
                "{}, {}",
                proposer(&p.proposed_by),
                when(p.proposed_at, present::zone(&p.definition))
            ),
            changes: against
                .filter(|a| a.version != p.version)
                .map(|a| changes(&a.definition, &p.definition))
                .unwrap_or_default(),
            signed: p
                .approvals
                .iter()
                .map(|a| {
                    let at = when(a.at, present::zone(&p.definition));
                    format!("{} for {}, {at}", a.user_email, a.team.slug)
                })
                .collect(),
            waiting_for: parties
                .iter()
                .filter(|t| !p.is_signed_by(&t.id))
                .map(|t| t.slug.clone())
                .collect(),
            may_sign: viewer.person.is_some()
                && viewer.principal.allows(Action::SignSla {
                    provider: provider_id,
                    consumer: consumer_id,
                })
                && own_team
                    .as_deref()
                    .is_some_and(|team| !p.is_signed_by(team)),
        }
    });
    let periods = history
        .iter()
        .rev()
        .map(|e| {
            let period = present::period(definition, e.period_start, e.period_end);
            let reading = present::reading(definition, e.value, e.op, e.target, &e.details);
            PeriodRow {
                label: period.label,
                dates: period.dates,
                value: reading.value,
                target: reading.target,
                status: e.status.as_str().to_string(),
                status_words: present::status_words(e.status.as_str()),
            }
        })
        .collect();
    let may_revise = viewer.person.is_some()
        && viewer.principal.allows(Action::ProposeSla {
            provider: provider_id,
            consumer: consumer_id,
        });
    let status = agreement.sla.status.as_str().to_string();
    html(SlaPage {
        chrome: viewer.chrome(definition.name.clone()),
        csrf: viewer.csrf(),
        key: agreement.sla.key.clone(),
        name: definition.name.clone(),
        description: definition.description.clone().unwrap_or_default(),
        provider: agreement.sla.provider.slug.clone(),
        consumer: agreement.sla.consumer.slug.clone(),
        status_words: present::status_words(&status),
        status,
        words: present::definition_in_words(definition),
        version: shown.version,
        pending,
        versions: agreement
            .versions
            .iter()
            .rev()
            .map(|v| version_row(v, &proposer(&v.proposed_by)))
            .collect(),
        chart: history_chart(definition, &history),
        periods,
        leads,
        breaches,
        may_revise,
    })
}

/// Signs the version awaiting signature for the viewer's team, through the API's service.
pub async fn approve(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let (viewer, form) = posted(&req, &body).await?;
    let version = match form.get("version") {
        Some(v) => Some(
            v.parse::<i32>()
                .map_err(|_| AppError::invalid("version", "must be a whole number"))?,
        ),
        None => None,
    };
    let (key, now, links) = (key.into_inner(), state.clock.now(), state.config.links());
    let actor = viewer.principal;
    let page = format!("/slas/{key}");
    state
        .db
        .run(move |conn| service::slas::approve(conn, &actor, &key, version, now, &links))
        .await?;
    see_other(&page)
}

/// Refuses the version awaiting signature, with the reason given.
pub async fn reject(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let (viewer, form) = posted(&req, &body).await?;
    let version = form.get("version").and_then(|v| v.parse::<i32>().ok());
    let reason = form.text("reason");
    let (key, now) = (key.into_inner(), state.clock.now());
    let actor = viewer.principal;
    let page = format!("/slas/{key}");
    state
        .db
        .run(move |conn| service::slas::reject(conn, &actor, &key, version, reason, now))
        .await?;
    see_other(&page)
}
