//! Background work inside `serve`: the periodic evaluation of every active SLA, and the
//! delivery of the outbox.

pub mod dispatch;

use std::time::Duration;

use actix_web::web;
use tokio::time::{MissedTickBehavior, interval};

use crate::service;
use crate::startup::AppState;

/// This process's name in claims: unique among replicas, and readable in the database.
pub fn replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    let random = uuid::Uuid::now_v7().simple().to_string();
    format!(
        "{host}/{}/{}",
        std::process::id(),
        &random[random.len() - 8..]
    )
}

/// Evaluates every active SLA each `ACCORD_EVAL_INTERVAL` until the server stops, sharing the
/// SLAs with any other replica through claims in the database. A failed cycle is logged and the
/// next one tries again; a slow one makes the next tick skip, never pile up.
pub async fn evaluate_periodically(state: web::Data<AppState>) {
    let share = service::evaluation::Share {
        owner: replica_name(),
        lease: state.config.lease.as_delta(),
        every: state.config.eval_interval.as_delta(),
        clock: state.clock.clone(),
    };
    tracing::info!(replica = %share.owner, "scheduler started");
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
        let (started, share, pool) = (std::time::Instant::now(), share.clone(), state.db.clone());
        match state
            .db
            .run(move |conn| {
                service::evaluation::run_cycle_with(
                    conn,
                    Some(&pool),
                    now,
                    settings,
                    &links,
                    Some(&share),
                )
            })
            .await
        {
            Ok(report) => {
                state
                    .metrics
                    .evaluation_cycle(started.elapsed().as_secs_f64());
                for (key, _) in &report.failed {
                    state.metrics.evaluation_failed(key);
                }
                tracing::info!(
                    slas = report.slas,
                    written = report.written.len(),
                    failed = report.failed.len(),
                    duration_ms = started.elapsed().as_millis() as u64,
                    "evaluation cycle"
                )
            }
            Err(error) => tracing::error!(error = %error, "evaluation cycle failed"),
        }
    }
}
