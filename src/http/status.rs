//! `/status` and `/reports/compliance`: where every agreement stands, for people and chat bots.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::domain::present;
use crate::error::{AppError, Problem};
use crate::service::{self, reports::Compliance, reports::StatusLine};
use crate::startup::AppState;

/// One active SLA's current period.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StatusLineResponse {
    /// The SLA's key.
    pub sla: String,
    /// Its name.
    pub name: String,
    /// Provider team slug.
    pub provider: String,
    /// Consumer team slug.
    pub consumer: String,
    /// Current period start (null before the first evaluation).
    pub period_start: Option<DateTime<Utc>>,
    /// Current period end.
    pub period_end: Option<DateTime<Utc>>,
    /// The value so far (null without data).
    pub value: Option<f64>,
    /// The target.
    pub target: f64,
    /// The comparison.
    pub op: String,
    /// `met`, `breached`, `on_track`, `at_risk` or `no_data`; `error` while the SLA cannot be
    /// evaluated (see `error`).
    pub status: String,
    /// Why the SLA cannot be evaluated, while that lasts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// No input for `ACCORD_STALE_AFTER`.
    pub data_stale: bool,
    /// For response-time SLAs: items overdue now in the current period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overdue: Option<u64>,
    /// When the last cycle judged it.
    pub evaluated_at: Option<DateTime<Utc>>,
    /// The current period as people say it, with its local dates and zone
    /// (`week 46 of 2026, Mon 9 – Sun 15 Nov 2026, Europe/Berlin`).
    pub period_name: Option<String>,
    /// The current period's stable code (`2026-W46`, `2026-11`).
    pub period_code: Option<String>,
    /// The value in words, with units and counts.
    pub reading: Option<String>,
    /// The target in words (`at least 90 %`).
    pub target_words: Option<String>,
    /// The status as people say it (`At risk`).
    pub status_words: String,
}

impl From<StatusLine> for StatusLineResponse {
    fn from(line: StatusLine) -> Self {
        let e = line.evaluation.as_ref();
        let status = line.status_or("no_data").to_string();
        Self {
            sla: line.sla,
            name: line.name,
            provider: line.provider,
            consumer: line.consumer,
            period_start: e.map(|e| e.period_start),
            period_end: e.map(|e| e.period_end),
            value: e.and_then(|e| e.value),
            target: line.target,
            op: line.op.into(),
            status_words: present::status_words(&status).to_string(),
            status,
            error: line.error.clone(),
            data_stale: e.is_some_and(|e| e.data_stale),
            overdue: line.overdue,
            evaluated_at: e.map(|e| e.evaluated_at),
            period_name: line.period_name.as_ref().map(|p| p.full()),
            period_code: line.period_name.as_ref().map(|p| p.code.clone()),
            reading: line.reading.as_ref().map(|r| r.sentence.clone()),
            target_words: line.reading.as_ref().map(|r| r.target.clone()),
        }
    }
}

/// `GET /status` options.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Only SLAs where this team (slug) is a party.
    pub team: Option<String>,
    /// `json` (default) or `text`: one plain line per SLA, for chat bots.
    pub format: Option<String>,
}

/// One line per SLA, the period and value as people say them:
/// `mql-volume (marketing → sales) November 2026 (2026-11): 9 lead.qualified; target at least 20 — At risk`.
pub(crate) fn text_line(line: &StatusLine) -> String {
    let e = line.evaluation.as_ref();
    let status = match &line.error {
        Some(reason) => format!("{}, error: {reason}", present::status_words("error")),
        None => present::status_words(line.status_or("not evaluated yet")).to_string(),
    };
    let measured = match (&line.period_name, &line.reading) {
        (Some(period), Some(reading)) => format!(
            " {}: {}; target {}",
            period.short(),
            reading.sentence,
            reading.target
        ),
        _ => ": not evaluated yet".to_string(),
    };
    let overdue = line
        .overdue
        .map(|n| format!(", {n} overdue"))
        .unwrap_or_default();
    let stale = if e.is_some_and(|e| e.data_stale) {
        ", DATA STALE"
    } else {
        ""
    };
    format!(
        "{} ({} → {}){measured} — {status}{overdue}{stale}",
        line.sla, line.provider, line.consumer,
    )
}

/// Every active SLA's current period: JSON, or `?format=text` for chat bots.
#[utoipa::path(tag = "reports", params(StatusQuery), security(("bearer" = [])), responses(
    (status = 200, content((super::pagination::ListResponse<StatusLineResponse> = "application/json"), (String = "text/plain"))),
    (status = 422, body = Problem)))]
#[get("/status")]
pub async fn get_status(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<StatusQuery>,
) -> Result<HttpResponse, AppError> {
    let StatusQuery { team, format } = query.into_inner();
    service::reports::may_read_board(&principal)?;
    let text = match format.as_deref() {
        None | Some("json") => false,
        Some("text") => true,
        Some(other) => {
            // An unknown team is reported first, as for a good format.
            let board = service::reports::current_board(&state.db, state.clock.now()).await?;
            board.lines_for(&principal, team.as_deref())?;
            return Err(AppError::BadRequest(format!(
                "format must be json or text, not {other:?}"
            )));
        }
    };
    // Bots poll this: the board is kept in memory and each answer rendered once per snapshot
    // (see `service::reports::current_board`); the caller is checked every time.
    let board = service::reports::current_board(&state.db, state.clock.now()).await?;
    let lines = board.lines_for(&principal, team.as_deref())?;
    let key = format!("status {text} {team:?}");
    let body = board.rendered(&key, || {
        if text {
            return Ok(lines
                .iter()
                .map(|l| text_line(l) + "\n")
                .collect::<String>()
                .into_bytes());
        }
        let items: Vec<StatusLineResponse> = lines
            .into_iter()
            .map(|line| StatusLineResponse::from(line.clone()))
            .collect();
        serde_json::to_vec(&super::pagination::ListResponse {
            items,
            next_cursor: None,
        })
        .map_err(|e| AppError::Unexpected(e.into()))
    })?;
    let content_type = match text {
        true => "text/plain; charset=utf-8",
        false => "application/json",
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .body(web::Bytes::from_owner(body)))
}

/// `GET /reports/compliance` range.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ComplianceQuery {
    /// Periods ending after this instant (RFC 3339).
    pub from: DateTime<Utc>,
    /// Periods ending at or before this instant (RFC 3339).
    pub to: DateTime<Utc>,
    /// Only SLAs where this team (slug) is a party.
    pub team: Option<String>,
}

/// Per SLA: closed periods met and breached, compliance rate and current streak.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ComplianceResponse {
    /// The SLA's key.
    pub sla: String,
    /// Its name.
    pub name: String,
    /// Provider team slug.
    pub provider: String,
    /// Consumer team slug.
    pub consumer: String,
    /// Periods met.
    pub met: u32,
    /// Periods breached.
    pub breached: u32,
    /// Periods without data.
    pub no_data: u32,
    /// met ÷ (met + breached).
    pub compliance_rate: Option<f64>,
    /// `met` or `breached`: the latest run of equal outcomes.
    pub streak_status: Option<String>,
    /// How many periods that run holds.
    pub streak_periods: Option<u32>,
}

impl From<Compliance> for ComplianceResponse {
    fn from(c: Compliance) -> Self {
        let (streak_status, streak_periods) = c
            .current_streak
            .map_or((None, None), |(s, n)| (Some(s), Some(n)));
        Self {
            sla: c.sla,
            name: c.name,
            provider: c.provider,
            consumer: c.consumer,
            met: c.met,
            breached: c.breached,
            no_data: c.no_data,
            compliance_rate: c.compliance_rate,
            streak_status,
            streak_periods,
        }
    }
}

/// Compliance per SLA over a range, as JSON or, with `Accept: text/csv`, CSV.
#[utoipa::path(tag = "reports", params(ComplianceQuery), security(("bearer" = [])), responses(
    (status = 200, content((super::pagination::ListResponse<ComplianceResponse> = "application/json"), (String = "text/csv"))),
    (status = 422, body = Problem)))]
#[get("/reports/compliance")]
pub async fn compliance_report(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    query: web::Query<ComplianceQuery>,
) -> Result<HttpResponse, AppError> {
    let ComplianceQuery { from, to, team } = query.into_inner();
    let rows = state
        .db
        .run(move |conn| service::reports::compliance(conn, &principal, from, to, team.as_deref()))
        .await?;
    let rows: Vec<ComplianceResponse> = rows.into_iter().map(ComplianceResponse::from).collect();
    let wants_csv = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if !wants_csv {
        return Ok(HttpResponse::Ok().json(super::pagination::ListResponse {
            items: rows,
            next_cursor: None,
        }));
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    let write = |out: &mut csv::Writer<Vec<u8>>, record: Vec<String>| {
        out.write_record(record)
            .map_err(|e| AppError::Unexpected(e.into()))
    };
    write(
        &mut out,
        [
            "sla",
            "name",
            "provider",
            "consumer",
            "met",
            "breached",
            "no_data",
            "compliance_rate",
            "streak_status",
            "streak_periods",
            "compliance",
            "streak",
        ]
        .map(String::from)
        .to_vec(),
    )?;
    for r in rows {
        let opt = |v: Option<String>| v.unwrap_or_default();
        write(
            &mut out,
            vec![
                r.sla,
                r.name,
                r.provider,
                r.consumer,
                r.met.to_string(),
                r.breached.to_string(),
                r.no_data.to_string(),
                opt(r.compliance_rate.map(|v| format!("{v:.4}"))),
                opt(r.streak_status.clone()),
                opt(r.streak_periods.map(|n| n.to_string())),
                opt(r
                    .compliance_rate
                    .map(|v| format!("{} %", present::number(v * 100.0)))),
                match (&r.streak_status, r.streak_periods) {
                    (Some(status), Some(n)) => format!(
                        "{n} {} {}",
                        if n == 1 { "period" } else { "periods" },
                        present::status_words(status).to_lowercase()
                    ),
                    _ => String::new(),
                },
            ],
        )?;
    }
    let body = out
        .into_inner()
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("{e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .body(body))
}
