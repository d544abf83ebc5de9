//! `/slas/new` and `/slas/{key}/revise`: propose an agreement or a revision from a form. The
//! form first shows what the definition would have scored over past data (the API's simulation);
//! only then is it proposed, through the same service as `POST /api/v1/slas` and `PUT …/{key}`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use super::board::history_chart;
use super::{Chrome, Form, PageError, PageResult, Viewer, html, posted, see_other};
use crate::auth::Principal;
use crate::auth::policy::Action;
use crate::domain::period::PeriodKind;
use crate::domain::present;
use crate::domain::sla::{Definition, DefinitionInput, Window};
use crate::error::{AppError, FieldErrors};
use crate::service::{self, PageRequest};
use crate::startup::AppState;

/// The form's fields, as typed.
#[derive(Clone, Default)]
struct Fields {
    key: String,
    name: String,
    description: String,
    provider: String,
    consumer: String,
    metric: String,
    event: String,
    start: String,
    stop: String,
    threshold: String,
    calendar: String,
    numerator: String,
    denominator: String,
    op: String,
    target: String,
    window: String,
    timezone: String,
    length: String,
    effective_from: String,
}

impl Fields {
    fn from_form(form: &Form) -> Self {
        let get = |name: &str| form.text(name);
        Self {
            key: get("key"),
            name: get("name"),
            description: get("description"),
            provider: get("provider"),
            consumer: get("consumer"),
            metric: get("metric"),
            event: get("event"),
            start: get("start"),
            stop: get("stop"),
            threshold: get("threshold"),
            calendar: get("calendar"),
            numerator: get("numerator"),
            denominator: get("denominator"),
            op: get("op"),
            target: get("target"),
            window: get("window"),
            timezone: get("timezone"),
            length: get("length"),
            effective_from: get("effective_from"),
        }
    }

    /// The form filled with a definition (a revision starts from the version in force).
    fn from_definition(d: &Definition) -> Self {
        let value = serde_json::to_value(d).unwrap_or_default();
        let text = |path: &[&str]| {
            let mut at = &value;
            for part in path {
                at = &at[*part];
            }
            match at {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            }
        };
        let (window, timezone, length) = match &d.window {
            Window::Calendar { period, timezone } => (
                match period {
                    PeriodKind::Day => "day",
                    PeriodKind::Week => "week",
                    PeriodKind::Month => "month",
                    PeriodKind::Quarter => "quarter",
                }
                .to_string(),
                timezone.name().to_string(),
                String::new(),
            ),
            Window::Rolling { length } => ("rolling".into(), String::new(), length.to_string()),
        };
        Self {
            key: d.key.clone(),
            name: d.name.clone(),
            description: d.description.clone().unwrap_or_default(),
            provider: d.provider.clone(),
            consumer: d.consumer.clone(),
            metric: text(&["metric", "kind"]),
            event: text(&["metric", "event"]),
            start: text(&["metric", "start", "event"]),
            stop: text(&["metric", "stop", "event"]),
            threshold: text(&["metric", "threshold"]),
            calendar: text(&["metric", "calendar"]),
            numerator: text(&["metric", "numerator", "event"]),
            denominator: text(&["metric", "denominator", "event"]),
            op: text(&["objective", "op"]),
            target: present::number(d.objective.target),
            window,
            timezone,
            length,
            effective_from: String::new(),
        }
    }

    /// The definition the fields describe, on top of `base` (a revision keeps what the form does
    /// not show: filters, pauses, notices).
    fn input(&self, base: Option<&Definition>) -> Result<DefinitionInput, AppError> {
        let base = base.and_then(|b| serde_json::to_value(b).ok());
        let part = |name: &str, kind: &str| -> Map<String, Value> {
            match base.as_ref().map(|b| &b[name]) {
                Some(Value::Object(map))
                    if map.get("kind").and_then(Value::as_str) == Some(kind) =>
                {
                    map.clone()
                }
                _ => Map::new(),
            }
        };
        let text = |s: &str| (!s.is_empty()).then(|| Value::String(s.to_string()));
        let selector = |event: &str, old: Option<&Value>| -> Option<Value> {
            let event = text(event)?;
            let mut selector = match old {
                Some(Value::Object(map)) => map.clone(),
                _ => Map::new(),
            };
            if selector.get("event") != Some(&event) {
                selector.remove("filter");
            }
            selector.insert("event".into(), event);
            Some(Value::Object(selector))
        };
        let kind = if self.metric.is_empty() {
            "count"
        } else {
            self.metric.as_str()
        };
        let mut metric = part("metric", kind);
        metric.insert("kind".into(), Value::String(kind.into()));
        let fields: Vec<(&str, Option<Value>)> = match kind {
            "response_time" => vec![
                ("start", selector(&self.start, metric.get("start"))),
                ("stop", selector(&self.stop, metric.get("stop"))),
                ("threshold", text(&self.threshold)),
                ("calendar", text(&self.calendar)),
            ],
            "ratio" => vec![
                (
                    "numerator",
                    selector(&self.numerator, metric.get("numerator")),
                ),
                (
                    "denominator",
                    selector(&self.denominator, metric.get("denominator")),
                ),
            ],
            _ => vec![("event", text(&self.event))],
        };
        for (name, value) in fields {
            match value {
                Some(value) => metric.insert(name.into(), value),
                None => metric.remove(name),
            };
        }
        let window = match self.window.as_str() {
            "rolling" => json!({"kind": "rolling", "length": self.length}),
            period => json!({"kind": "calendar",
                "period": if period.is_empty() { "month" } else { period },
                "timezone": if self.timezone.is_empty() { "UTC" } else { &self.timezone }}),
        };
        let target: f64 = self
            .target
            .replace(',', ".")
            .trim_end_matches('%')
            .trim()
            .parse()
            .map_err(|_| AppError::invalid("objective.target", "give a number, e.g. 90"))?;
        let mut definition = json!({
            "name": self.name,
            "provider": self.provider,
            "consumer": self.consumer,
            "metric": metric,
            "objective": {"op": if self.op.is_empty() { ">=" } else { &self.op }, "target": target},
            "window": window,
        });
        let extra = [
            ("key", text(&self.key)),
            ("description", text(&self.description)),
            ("effective_from", text(&self.effective_from)),
            (
                "notify_on",
                base.as_ref()
                    .map(|b| b["notify_on"].clone())
                    .filter(Value::is_array),
            ),
        ];
        for (name, value) in extra {
            if let Some(value) = value {
                definition[name] = value;
            }
        }
        serde_json::from_value(definition)
            .map_err(|e| AppError::BadRequest(format!("the form could not be read: {e}")))
    }
}

/// One simulated period.
struct Simulated {
    label: String,
    dates: String,
    value: String,
    sentence: String,
    status: String,
    status_words: &'static str,
}

/// The outcome of a preview.
struct Preview {
    words: String,
    range: String,
    chart: String,
    periods: Vec<Simulated>,
    met: usize,
    missed: usize,
}

#[derive(Template)]
#[template(path = "pages/propose.html")]
struct ProposePage {
    chrome: Chrome,
    csrf: String,
    action: String,
    /// `Some(key)` for a revision (the key is fixed).
    revising: Option<String>,
    f: Fields,
    teams: Vec<String>,
    calendars: Vec<String>,
    problems: Vec<String>,
    preview: Option<Preview>,
}

/// How far back a preview looks: about a dozen periods.
fn preview_range(definition: &Definition, now: DateTime<Utc>) -> DateTime<Utc> {
    now - match &definition.window {
        Window::Calendar { period, .. } => match period {
            PeriodKind::Day => Duration::days(30),
            PeriodKind::Week => Duration::weeks(12),
            PeriodKind::Month => Duration::days(183),
            PeriodKind::Quarter => Duration::days(366),
        },
        Window::Rolling { .. } => Duration::days(30),
    }
}

/// The teams and calendars the form suggests.
fn choices(
    conn: &mut crate::store::DbConn,
    actor: &Principal,
) -> Result<(Vec<String>, Vec<String>), AppError> {
    let page = PageRequest {
        limit: 1000,
        after: None,
    };
    let teams = service::teams::list(conn, actor, &page)?
        .items
        .into_iter()
        .map(|t| t.team.slug)
        .collect();
    let calendars = service::calendars::list(conn, actor, &page)?
        .items
        .into_iter()
        .map(|c| c.key)
        .collect();
    Ok((teams, calendars))
}

fn problems_of(error: &AppError) -> Vec<String> {
    match error {
        AppError::Validation { errors, detail } if errors.is_empty() => vec![detail.clone()],
        AppError::Validation { errors, .. } => field_problems(errors),
        other => vec![other.to_string()],
    }
}

fn field_problems(errors: &FieldErrors) -> Vec<String> {
    errors
        .iter()
        .map(|(field, message)| format!("{field}: {message}"))
        .collect()
}

async fn render_form(
    state: &AppState,
    viewer: &Viewer,
    revising: Option<String>,
    f: Fields,
    problems: Vec<String>,
    preview: Option<Preview>,
    status: StatusCode,
) -> PageResult {
    let actor = viewer.principal.clone();
    let (teams, calendars) = state.db.run(move |conn| choices(conn, &actor)).await?;
    let (title, action) = match &revising {
        Some(key) => (format!("Revise {key}"), format!("/slas/{key}/revise")),
        None => ("Propose an agreement".to_string(), "/slas/new".to_string()),
    };
    let page = ProposePage {
        chrome: viewer.chrome(title),
        csrf: viewer.csrf(),
        action,
        revising,
        f,
        teams,
        calendars,
        problems,
        preview,
    };
    if status == StatusCode::OK {
        return html(page);
    }
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

/// Whether the viewer may propose agreements at all (the service checks the parties named).
fn may_propose(viewer: &Viewer) -> Result<(), AppError> {
    let own = viewer
        .principal
        .team()
        .map(|t| t.id.clone())
        .unwrap_or_default();
    viewer.principal.authorize(Action::ProposeSla {
        provider: &own,
        consumer: &own,
    })
}

/// The empty form.
pub async fn new_form(state: web::Data<AppState>, viewer: Viewer) -> PageResult {
    may_propose(&viewer)?;
    let f = Fields {
        metric: "count".into(),
        op: ">=".into(),
        window: "month".into(),
        timezone: "UTC".into(),
        ..Fields::default()
    };
    render_form(&state, &viewer, None, f, Vec::new(), None, StatusCode::OK).await
}

/// The form filled with the version in force.
pub async fn revise_form(
    state: web::Data<AppState>,
    viewer: Viewer,
    key: web::Path<String>,
) -> PageResult {
    let (key, now) = (key.into_inner(), state.clock.now());
    let (actor, wanted) = (viewer.principal.clone(), key.clone());
    let agreement = state
        .db
        .run(move |conn| service::slas::get(conn, &actor, &wanted))
        .await?;
    viewer.principal.authorize(Action::ProposeSla {
        provider: &agreement.sla.provider.id,
        consumer: &agreement.sla.consumer.id,
    })?;
    let current = agreement
        .current(now)
        .ok_or(AppError::NotFound("sla version"))?;
    let f = Fields::from_definition(&current.definition);
    render_form(
        &state,
        &viewer,
        Some(key),
        f,
        Vec::new(),
        None,
        StatusCode::OK,
    )
    .await
}

/// Previews or proposes a new agreement.
pub async fn new_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> PageResult {
    submit(state, req, body, None).await
}

/// Previews or proposes a revision.
pub async fn revise_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    submit(state, req, body, Some(key.into_inner())).await
}

async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
    revising: Option<String>,
) -> PageResult {
    let (viewer, form) = posted(&req, &body).await?;
    if revising.is_none() {
        may_propose(&viewer)?;
    }
    let mut f = Fields::from_form(&form);
    if let Some(key) = &revising {
        f.key = key.clone();
    }
    let propose = form.get("intent").as_deref() == Some("propose");
    let now = state.clock.now();
    let (actor, key, links, settings) = (
        viewer.principal.clone(),
        revising.clone(),
        state.config.links(),
        state.config.evaluation(),
    );
    let fields = f.clone();
    let outcome = state
        .db
        .run(move |conn| {
            let base = match &key {
                Some(key) => {
                    let agreement = service::slas::get(conn, &actor, key)?;
                    actor.authorize(Action::ProposeSla {
                        provider: &agreement.sla.provider.id,
                        consumer: &agreement.sla.consumer.id,
                    })?;
                    agreement.current(now).map(|v| v.definition.clone())
                }
                None => None,
            };
            let input = fields.input(base.as_ref())?;
            if propose {
                let agreement = match &key {
                    Some(key) => service::slas::revise(conn, &actor, key, input, now, &links)?,
                    None => service::slas::create(conn, &actor, input, now, &links)?,
                };
                return Ok(Err(agreement.sla.key));
            }
            let key = input.key.clone().unwrap_or_else(|| "simulation".into());
            let definition = service::slas::check_definition(conn, input.clone(), &key)?.0;
            let from = preview_range(&definition, now);
            let results = service::evaluation::simulate_request(
                conn,
                &actor,
                None,
                Some(input),
                from,
                now,
                now,
                settings,
            )?;
            Ok(Ok((definition, from, results)))
        })
        .await;
    let (definition, from, results) = match outcome {
        Ok(Err(key)) => return see_other(&format!("/slas/{key}")),
        Ok(Ok(done)) => done,
        Err(
            error @ (AppError::Validation { .. }
            | AppError::BadRequest(_)
            | AppError::Conflict(_)
            | AppError::NotFound(_)),
        ) => {
            let status = actix_web::ResponseError::status_code(&error);
            let problems = problems_of(&error);
            return render_form(&state, &viewer, revising, f, problems, None, status).await;
        }
        Err(other) => return Err(PageError::Failed(other)),
    };
    let periods: Vec<Simulated> = results
        .iter()
        .rev()
        .map(|e| {
            let period = present::period(&definition, e.period_start, e.period_end);
            let reading = present::reading(&definition, e.value, e.op, e.target, &e.details);
            Simulated {
                label: period.label,
                dates: period.dates,
                value: reading.value,
                sentence: reading.sentence,
                status: e.status.as_str().to_string(),
                status_words: present::status_words(e.status.as_str()),
            }
        })
        .collect();
    let met = results
        .iter()
        .filter(|e| e.status.as_str() == "met")
        .count();
    let missed = results
        .iter()
        .filter(|e| e.status.as_str() == "breached")
        .count();
    let preview = Preview {
        words: present::definition_in_words(&definition),
        range: format!(
            "{} to {}",
            from.format("%a %-d %b %Y"),
            now.format("%a %-d %b %Y")
        ),
        chart: history_chart(&definition, &results),
        periods,
        met,
        missed,
    };
    render_form(
        &state,
        &viewer,
        revising,
        f,
        Vec::new(),
        Some(preview),
        StatusCode::OK,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_makes_a_definition() {
        let f = Fields {
            name: "Volume".into(),
            provider: "marketing".into(),
            consumer: "sales".into(),
            metric: "count".into(),
            event: "lead.qualified".into(),
            op: ">=".into(),
            target: "20".into(),
            window: "month".into(),
            timezone: "Europe/Berlin".into(),
            ..Fields::default()
        };
        let input = f.input(None).unwrap();
        assert_eq!(input.metric.event.as_deref(), Some("lead.qualified"));
        assert_eq!(input.objective.target, 20.0);
        assert_eq!(input.window.timezone.as_deref(), Some("Europe/Berlin"));
    }
}
