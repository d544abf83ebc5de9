//! Prometheus metrics served at `/metrics`: HTTP traffic, and what operators watch — every SLA's
//! value, target and status, open breaches, the outbox, evaluation cycles and lag, ingestion.
//!
//! Every label is bounded: HTTP methods are the known ones (anything else is `other`), routes are
//! patterns, SLAs and teams are what admins create, and event kinds (chosen by clients) are kept
//! to [`MAX_EVENT_SERIES`] team and kind pairs, `other` past that.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use tracing_actix_web::RequestId;

use crate::service::reports::Board;
use crate::startup::AppState;

/// The most team and kind pairs counted apart in `accord_events_ingested_total`.
pub const MAX_EVENT_SERIES: usize = 500;

/// The statuses `accord_sla_status` has a series for.
const SLA_STATUSES: [&str; 7] = [
    "met",
    "breached",
    "on_track",
    "at_risk",
    "no_data",
    "error",
    "not_evaluated",
];

/// The instance's metrics registry and the series accord feeds.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// Sign-ins refused for a wrong email or password (not those refused by the rate limit).
    pub failed_sign_ins: IntCounter,
    evaluation_failures: IntCounterVec,
    cycle_duration: Histogram,
    events_ingested: IntCounterVec,
    events_duplicates: IntCounter,
    event_series: std::sync::Arc<Mutex<HashSet<(String, String)>>>,
    sla_value: GaugeVec,
    sla_target: GaugeVec,
    sla_status: IntGaugeVec,
    sla_evaluation_age: GaugeVec,
    sla_data_stale: IntGaugeVec,
    slas_failing: IntGauge,
    breaches_open: IntGaugeVec,
    outbox_messages: IntGaugeVec,
    outbox_oldest_pending: Gauge,
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<GaugeVec> {
    GaugeVec::new(Opts::new(name, help), labels)
}

fn int_gauge_vec(name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntGaugeVec> {
    IntGaugeVec::new(Opts::new(name, help), labels)
}

impl Metrics {
    /// A fresh registry with accord's series.
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "accord_http_requests_total",
                "HTTP requests answered, by method, route and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "accord_http_request_duration_seconds",
                "Time to answer HTTP requests, by route",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["method", "route"],
        )?;
        let failed_sign_ins = IntCounter::new(
            "accord_failed_sign_ins_total",
            "Sign-ins refused for a wrong email or password",
        )?;
        let evaluation_failures = IntCounterVec::new(
            Opts::new(
                "accord_sla_evaluation_failures_total",
                "Scheduled evaluations of an SLA that failed (the others went on), by SLA",
            ),
            &["sla"],
        )?;
        let cycle_duration = Histogram::with_opts(
            HistogramOpts::new(
                "accord_evaluation_cycle_duration_seconds",
                "Time a scheduled evaluation cycle of this replica took",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ]),
        )?;
        let events_ingested = IntCounterVec::new(
            Opts::new(
                "accord_events_ingested_total",
                "Events in stored uploads (new ones and replayed duplicates), by team and kind",
            ),
            &["team", "kind"],
        )?;
        let events_duplicates = IntCounter::new(
            "accord_events_duplicates_total",
            "Events skipped because their team had stored their external_id already",
        )?;
        let sla_value = gauge_vec(
            "accord_sla_value",
            "Each active SLA's value in its current period (absent without data)",
            &["sla"],
        )?;
        let sla_target = gauge_vec("accord_sla_target", "Each active SLA's target", &["sla"])?;
        let sla_status = int_gauge_vec(
            "accord_sla_status",
            "1 for each active SLA's current status, 0 for the others",
            &["sla", "status"],
        )?;
        let sla_evaluation_age = gauge_vec(
            "accord_sla_evaluation_age_seconds",
            "Seconds since each active SLA's current period was last evaluated",
            &["sla"],
        )?;
        let sla_data_stale = int_gauge_vec(
            "accord_sla_data_stale",
            "1 while an active SLA has had no input for ACCORD_STALE_AFTER",
            &["sla"],
        )?;
        let slas_failing = IntGauge::new(
            "accord_slas_failing",
            "Active SLAs whose evaluation fails (status error)",
        )?;
        let breaches_open = int_gauge_vec(
            "accord_breaches_open",
            "Breaches that still need someone (open, acknowledged, disputed), by SLA",
            &["sla"],
        )?;
        let outbox_messages = int_gauge_vec(
            "accord_outbox_messages",
            "Outbox messages by status (pending, sent, failed)",
            &["status"],
        )?;
        let outbox_oldest_pending = Gauge::new(
            "accord_outbox_oldest_pending_age_seconds",
            "Age of the oldest message waiting to be sent (0 when none waits)",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(failed_sign_ins.clone()))?;
        registry.register(Box::new(evaluation_failures.clone()))?;
        registry.register(Box::new(cycle_duration.clone()))?;
        registry.register(Box::new(events_ingested.clone()))?;
        registry.register(Box::new(events_duplicates.clone()))?;
        registry.register(Box::new(sla_value.clone()))?;
        registry.register(Box::new(sla_target.clone()))?;
        registry.register(Box::new(sla_status.clone()))?;
        registry.register(Box::new(sla_evaluation_age.clone()))?;
        registry.register(Box::new(sla_data_stale.clone()))?;
        registry.register(Box::new(slas_failing.clone()))?;
        registry.register(Box::new(breaches_open.clone()))?;
        registry.register(Box::new(outbox_messages.clone()))?;
        registry.register(Box::new(outbox_oldest_pending.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            failed_sign_ins,
            evaluation_failures,
            cycle_duration,
            events_ingested,
            events_duplicates,
            event_series: Default::default(),
            sla_value,
            sla_target,
            sla_status,
            sla_evaluation_age,
            sla_data_stale,
            slas_failing,
            breaches_open,
            outbox_messages,
            outbox_oldest_pending,
        })
    }

    /// Counts a failed scheduled evaluation of the SLA `key`.
    pub fn evaluation_failed(&self, key: &str) {
        self.evaluation_failures.with_label_values(&[key]).inc();
    }

    /// Records how long a scheduled evaluation cycle took.
    pub fn evaluation_cycle(&self, seconds: f64) {
        self.cycle_duration.observe(seconds);
    }

    /// Counts a stored upload: `counts` events per (team slug, kind), `duplicates` of them skipped.
    pub fn events_ingested<'a>(
        &self,
        counts: impl IntoIterator<Item = ((&'a str, &'a str), u64)>,
        duplicates: u64,
    ) {
        let mut series = self
            .event_series
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for ((team, kind), n) in counts {
            let pair = (team.to_string(), kind.to_string());
            let kind = if series.contains(&pair) || series.len() < MAX_EVENT_SERIES {
                series.insert(pair);
                kind
            } else {
                "other"
            };
            self.events_ingested
                .with_label_values(&[team, kind])
                .inc_by(n);
        }
        self.events_duplicates.inc_by(duplicates);
    }

    /// Sets the gauges read from the database: the board's lines, live breaches by SLA and the
    /// outbox by status (with when its oldest pending message was written).
    pub fn refresh(
        &self,
        board: &Board,
        breaches: &[(String, i64)],
        outbox: &[(String, i64, Option<DateTime<Utc>>)],
        now: DateTime<Utc>,
    ) {
        // Reset first: a retired SLA's series go away.
        for vec in [&self.sla_value, &self.sla_target, &self.sla_evaluation_age] {
            vec.reset();
        }
        self.sla_status.reset();
        self.sla_data_stale.reset();
        let mut failing = 0;
        for line in &board.lines {
            let sla = line.sla.as_str();
            let status = line.status_or("not_evaluated");
            failing += i64::from(status == "error");
            for known in SLA_STATUSES {
                self.sla_status
                    .with_label_values(&[sla, known])
                    .set(i64::from(known == status));
            }
            self.sla_target.with_label_values(&[sla]).set(line.target);
            let stale = line.evaluation.as_ref().is_some_and(|e| e.data_stale);
            self.sla_data_stale
                .with_label_values(&[sla])
                .set(i64::from(stale));
            if let Some(evaluation) = &line.evaluation {
                if let Some(value) = evaluation.value {
                    self.sla_value.with_label_values(&[sla]).set(value);
                }
                let age = (now - evaluation.evaluated_at).num_milliseconds() as f64 / 1000.0;
                self.sla_evaluation_age
                    .with_label_values(&[sla])
                    .set(age.max(0.0));
            }
        }
        self.slas_failing.set(failing);
        self.breaches_open.reset();
        for (sla, n) in breaches {
            self.breaches_open.with_label_values(&[sla]).set(*n);
        }
        let mut oldest_pending = 0.0;
        for status in ["pending", "sent", "failed"] {
            self.outbox_messages.with_label_values(&[status]).set(0);
        }
        for (status, n, oldest) in outbox {
            self.outbox_messages.with_label_values(&[status]).set(*n);
            if status == "pending"
                && let Some(oldest) = oldest
            {
                oldest_pending = ((now - *oldest).num_milliseconds() as f64 / 1000.0).max(0.0);
            }
        }
        self.outbox_oldest_pending.set(oldest_pending);
    }

    fn render(&self) -> Vec<u8> {
        let mut buffer = Vec::new();
        // Encoding into a Vec fails only on invalid metric names, which are fixed here.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        buffer
    }
}

/// The `method` label: one of HTTP's methods, or `other` (a client can send any token there).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Middleware: counts and times each request by its route pattern (not its raw path, which would
/// make one series per id) and answers with the request id in `x-request-id`.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.clone());
    let method = method_label(req.method());
    let mut response = next.call(req).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    if let Some(metrics) = metrics {
        let status = response.status();
        metrics
            .requests
            .with_label_values(&[method, &route, status.as_str()])
            .inc();
        metrics
            .latency
            .with_label_values(&[method, &route])
            .observe(started.elapsed().as_secs_f64());
    }
    let request_id = response
        .request()
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string);
    if let Some(value) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}

/// Metrics in the Prometheus text format. The SLA gauges come from the kept status board; open
/// breaches and the outbox from two grouped counts over indexes.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn prometheus_metrics(state: web::Data<AppState>) -> HttpResponse {
    let now = state.clock.now();
    let board = crate::service::reports::current_board(&state.db, now).await;
    let counts = state
        .db
        .run(|conn| {
            Ok((
                crate::store::breaches::count_live_by_sla(conn)?,
                crate::store::outbox::count_by_status(conn)?,
            ))
        })
        .await;
    match (board, counts) {
        (Ok(board), Ok((breaches, outbox))) => {
            state.metrics.refresh(&board, &breaches, &outbox, now)
        }
        // The HTTP series still tell something; the database gauges keep their last values.
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(error = %error, "metrics: cannot read the database gauges")
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
