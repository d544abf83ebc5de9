//! Background work inside `serve`: the periodic evaluation of every active SLA, and the
//! delivery of the outbox.

pub mod dispatch;

use std::time::Duration;

use actix_web::web;
use tokio::time::{MissedTickBehavior, interval};

use crate::service;
use crate::startup::AppState;

/// Evaluates every active SLA each `ACCORD_EVAL_INTERVAL` until the server stops. A failed cycle
/// is logged and the next one tries again; a slow one makes the next tick skip, never pile up.
pub async fn evaluate_periodically(state: web::Data<AppState>) {
    let mut ticks = interval(
        state
            .config
            .eval_interval
            .as_std()
            .max(Duration::from_secs(1)),
    );
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let (now, settings, links) = (
            state.clock.now(),
            state.config.evaluation(),
            state.config.links(),
        );
        let started = std::time::Instant::now();
        match state
            .db
            .run(move |conn| service::evaluation::run_cycle(conn, now, settings, &links))
            .await
        {
            Ok(report) => tracing::info!(
                slas = report.slas,
                written = report.written.len(),
                duration_ms = started.elapsed().as_millis() as u64,
                "evaluation cycle"
            ),
            Err(error) => tracing::error!(error = %error, "evaluation cycle failed"),
        }
    }
}
