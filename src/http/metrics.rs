//! Prometheus metrics: request counts and latencies by route, served at `/metrics`.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, get, web};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};
use tracing_actix_web::RequestId;

use crate::startup::AppState;

/// The instance's metrics registry and the series the HTTP layer feeds.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// Sign-ins refused for a wrong email or password (not those refused by the rate limit).
    pub failed_sign_ins: IntCounter,
    evaluation_failures: IntCounterVec,
}

impl Metrics {
    /// A fresh registry with accord's series.
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "accord_http_requests_total",
                "HTTP requests answered, by route and status",
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
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(failed_sign_ins.clone()))?;
        registry.register(Box::new(evaluation_failures.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            failed_sign_ins,
            evaluation_failures,
        })
    }

    /// Counts a failed scheduled evaluation of the SLA `key`.
    pub fn evaluation_failed(&self, key: &str) {
        self.evaluation_failures.with_label_values(&[key]).inc();
    }

    fn render(&self) -> Vec<u8> {
        let mut buffer = Vec::new();
        // Encoding into a Vec fails only on invalid metric names, which are fixed here.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        buffer
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
    let method = req.method().to_string();
    let mut response = next.call(req).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    if let Some(metrics) = metrics {
        let status = response.status().as_u16().to_string();
        metrics
            .requests
            .with_label_values(&[method.as_str(), &route, &status])
            .inc();
        metrics
            .latency
            .with_label_values(&[method.as_str(), &route])
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

/// Metrics in the Prometheus text format.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn prometheus_metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
