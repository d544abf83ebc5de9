//! The dispatcher: claims due outbox messages, delivers them, records the outcome.

use std::time::Duration;

use actix_web::web;
use chrono::{DateTime, Utc};
use rand::Rng;

use crate::email::Deliverer;
use crate::startup::AppState;
use crate::store;

/// When to try again after `attempts` failed ones: `base × 2^attempts`, at most an hour, with
/// ±20 % jitter so that retries of many messages do not arrive together; `None` past the maximum.
pub fn next_attempt(
    base: Duration,
    attempts: i32,
    max_attempts: i32,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if attempts >= max_attempts {
        return None;
    }
    let backoff = base.as_secs_f64() * 2f64.powi(attempts.saturating_sub(1).clamp(0, 20));
    let jittered = backoff.min(3600.0) * rand::rng().random_range(0.8..1.2);
    Some(now + chrono::Duration::milliseconds((jittered * 1000.0) as i64))
}

/// Delivers what is due, once; returns how many messages were handled.
pub async fn dispatch_once(
    state: &web::Data<AppState>,
    deliverer: &Deliverer,
) -> anyhow::Result<usize> {
    let now = state.clock.now();
    let due = state
        .db
        .run(move |conn| Ok(store::outbox::due(conn, now, 50)?))
        .await?;
    let (mut handled, lease) = (0, state.config.lease.as_delta());
    for message in due {
        let id = message.id.clone();
        // Read now, not at the batch's start: delivering the messages before took time, and a
        // lease dated from then would end early.
        let now = state.clock.now();
        let claimed = state
            .db
            .run(move |conn| Ok(store::outbox::claim(conn, &id, now, lease)?))
            .await?;
        if !claimed {
            continue;
        }
        // A generic webhook is signed with the team's secret as it is now: a rotated secret
        // signs the retries of messages written before.
        let secret = match (message.headers.contains_key("webhook-id"), &message.team_id) {
            (true, Some(team_id)) => {
                let team_id = team_id.clone();
                state
                    .db
                    .run(move |conn| Ok(store::teams::find(conn, &team_id)?))
                    .await?
                    .and_then(|team| team.webhook_secret)
            }
            _ => None,
        };
        let outcome = deliverer
            .deliver(&message, secret.as_deref(), state.clock.now())
            .await;
        let (id, attempts) = (message.id.clone(), message.attempts + 1);
        let (base, max) = (state.config.retry_base.as_std(), state.config.max_attempts);
        let finished = state.clock.now();
        match outcome {
            Ok(()) => {
                tracing::info!(outbox.id = %message.id, outbox.kind = %message.kind, outbox.channel = %message.channel, "delivered");
                state
                    .db
                    .run(move |conn| Ok(store::outbox::mark_sent(conn, &id, finished)?))
                    .await?;
            }
            Err(error) => {
                let retry_at = next_attempt(base, attempts, max, finished);
                tracing::warn!(outbox.id = %message.id, outbox.kind = %message.kind, attempts, error, will_retry = retry_at.is_some(), "delivery failed");
                state
                    .db
                    .run(move |conn| {
                        Ok(store::outbox::mark_attempt_failed(
                            conn, &id, &error, retry_at,
                        )?)
                    })
                    .await?;
            }
        }
        handled += 1;
    }
    Ok(handled)
}

/// Runs the dispatcher until the server stops: every second, or sooner when work was found.
pub async fn dispatch_periodically(state: web::Data<AppState>, deliverer: Deliverer) {
    loop {
        match dispatch_once(&state, &deliverer).await {
            Ok(0) => tokio::time::sleep(Duration::from_millis(500)).await,
            Ok(_) => {}
            Err(error) => {
                tracing::error!(error = %error, "dispatch failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
