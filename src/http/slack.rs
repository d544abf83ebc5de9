//! `POST /integrations/slack/command`: a Slack slash command, verified by its signature.

use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, HttpResponse, post, web};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use super::json::read_body;
use crate::auth::Principal;
use crate::error::AppError;
use crate::service;
use crate::startup::AppState;

/// Requests older (or newer) than this are refused, so a captured request cannot be replayed.
const MAX_SKEW_SECS: i64 = 300;

/// The form Slack posts (fields accord reads; the rest is ignored).
#[derive(Deserialize, utoipa::ToSchema)]
struct Command {
    /// What follows the slash command: `status [team|sla]`, `breaches`, `overdue <sla>`, `help`.
    #[serde(default)]
    text: String,
}

/// Checks `v0=hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}"))` in constant time, and the age.
fn verify(headers: &HeaderMap, body: &[u8], secret: &str, now: i64) -> Result<(), AppError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let refused = |why: &'static str| AppError::Unauthorized(why);
    let timestamp =
        header("x-slack-request-timestamp").ok_or(refused("missing X-Slack-Request-Timestamp"))?;
    let sent_at: i64 = timestamp
        .parse()
        .map_err(|_| refused("bad X-Slack-Request-Timestamp"))?;
    if (now - sent_at).abs() > MAX_SKEW_SECS {
        return Err(refused("the request is older than five minutes"));
    }
    let signature = header("x-slack-signature")
        .and_then(|s| s.strip_prefix("v0="))
        .ok_or(refused("missing X-Slack-Signature"))?;
    let signature = hex::decode(signature).map_err(|_| refused("bad X-Slack-Signature"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| refused("bad signing secret"))?;
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| refused("the signature does not match"))
}

fn help() -> serde_json::Value {
    let text = "accord answers:\n• `status` — every agreement's current period\n• `status <team>` or `status <sla>` — just those\n\
                • `breaches` — breaches that need someone\n• `overdue <sla>` — the leads overdue for a response-time SLA\n• `help` — this";
    message("accord help", text)
}

fn message(title: &str, body: &str) -> serde_json::Value {
    json!({
        "response_type": "ephemeral",
        "text": format!("{title}\n{body}"),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title}},
            {"type": "section", "text": {"type": "mrkdwn", "text": if body.is_empty() { "Nothing to show." } else { body }}},
        ]
    })
}

/// Answers a slash command (`status [team|sla]`, `breaches`, `overdue <sla>`, `help`) as Slack
/// message JSON; anything else gets the help.
#[utoipa::path(tag = "reports", request_body(content = Command, content_type = "application/x-www-form-urlencoded"),
    params(
        ("X-Slack-Request-Timestamp" = String, Header, description = "Unix time of the request, within five minutes of the server's"),
        ("X-Slack-Signature" = String, Header, description = "`v0=` hex HMAC-SHA256 of `v0:{timestamp}:{body}` with the signing secret"),
    ),
    responses((status = 200, description = "Slack message JSON"), (status = 401, body = crate::error::Problem),
        (status = 413, description = "The form is over 64 KiB", body = crate::error::Problem),
        (status = 503, description = "Off: ACCORD_SLACK_SIGNING_SECRET is not set", body = crate::error::Problem)))]
#[post("/integrations/slack/command")]
pub async fn slack_command(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let secret = state.config.slack_signing_secret.clone().ok_or_else(|| {
        AppError::Unavailable(
            "the Slack integration is off: set ACCORD_SLACK_SIGNING_SECRET".into(),
        )
    })?;
    let body = read_body(&req, &mut payload.into_inner(), 64 * 1024).await?;
    let now = state.clock.now();
    verify(req.headers(), &body, secret.expose(), now.timestamp())?;
    let command: Command = serde_urlencoded::from_bytes(&body)
        .map_err(|e| AppError::BadRequest(format!("form: {e}")))?;
    if command.text.contains('\0') {
        return Err(AppError::BadRequest(format!(
            "text: {}",
            crate::domain::validate::NUL_REASON
        )));
    }
    let mut words = command.text.split_whitespace();
    let (verb, arg) = (
        words.next().unwrap_or("help").to_ascii_lowercase(),
        words.next().map(str::to_owned),
    );
    let answer = match verb.as_str() {
        "status" => {
            // The same kept board as `/status` (see `service::reports::current_board`).
            let board = service::reports::current_board(&state.db, now).await?;
            let team = arg.as_deref().filter(|a| board.has_team(a));
            let lines = board.lines_for(&Principal::System, team)?;
            let lines: Vec<_> = match (team, arg.as_deref()) {
                (None, Some(sla)) => lines.into_iter().filter(|l| l.sla == sla).collect(),
                _ => lines,
            };
            let body: Vec<String> = lines
                .iter()
                .map(|l| format!("• {}", super::status::text_line(l)))
                .collect();
            message("Where the agreements stand", &body.join("\n"))
        }
        "breaches" => {
            let breaches = state
                .db
                .run(move |conn| {
                    let page = service::PageRequest {
                        limit: 20,
                        after: None,
                    };
                    let all = service::breaches::list(
                        conn,
                        &Principal::System,
                        Default::default(),
                        &page,
                    )?;
                    Ok(all
                        .items
                        .into_iter()
                        .filter(|b| b.status.is_live())
                        .collect::<Vec<_>>())
                })
                .await?;
            let body: Vec<String> = breaches
                .iter()
                .map(|b| {
                    format!(
                        "• {} {} → {}: {} (target {} {})",
                        b.sla,
                        b.period_start.format("%Y-%m-%d"),
                        b.status.as_str(),
                        b.value.map_or("no data".into(), |v| v.to_string()),
                        b.op.as_str(),
                        b.target
                    )
                })
                .collect();
            message("Breaches that need someone", &body.join("\n"))
        }
        "overdue" => match arg {
            None => help(),
            Some(sla) => {
                let key = sla.clone();
                let items = state
                    .db
                    .run(move |conn| {
                        service::evaluation::violations(conn, &Principal::System, &key, now)
                    })
                    .await;
                match items {
                    Ok(items) => {
                        let body: Vec<String> = items
                            .iter()
                            .take(20)
                            .map(|i| match i.overdue {
                                true => format!(
                                    "• {} — overdue by {} h",
                                    i.subject_id,
                                    i.overdue_secs / 3600
                                ),
                                false => format!(
                                    "• {} — due in {} min",
                                    i.subject_id,
                                    -i.overdue_secs / 60
                                ),
                            })
                            .collect();
                        message(&format!("Overdue for {sla}"), &body.join("\n"))
                    }
                    Err(AppError::NotFound(_)) => {
                        message("Unknown SLA", &format!("There is no SLA {sla:?}."))
                    }
                    Err(AppError::Conflict(detail)) => message("Not a response-time SLA", &detail),
                    Err(other) => return Err(other),
                }
            }
        },
        _ => help(),
    };
    Ok(HttpResponse::Ok().json(answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn signed(secret: &str, timestamp: i64, body: &str) -> HeaderMap {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("v0:{timestamp}:{body}").as_bytes());
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-slack-request-timestamp"),
            HeaderValue::from_str(&timestamp.to_string()).unwrap(),
        );
        let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
        headers.insert(
            HeaderName::from_static("x-slack-signature"),
            HeaderValue::from_str(&signature).unwrap(),
        );
        headers
    }

    #[test]
    fn signatures_are_checked() {
        let body = "command=%2Faccord&text=status";
        assert!(
            verify(
                &signed("secret", 1000, body),
                body.as_bytes(),
                "secret",
                1100
            )
            .is_ok()
        );
        assert!(
            verify(
                &signed("secret", 1000, body),
                b"command=%2Faccord&text=breaches",
                "secret",
                1100
            )
            .is_err()
        );
        assert!(
            verify(
                &signed("other", 1000, body),
                body.as_bytes(),
                "secret",
                1100
            )
            .is_err()
        );
        assert!(
            verify(
                &signed("secret", 1000, body),
                body.as_bytes(),
                "secret",
                1000 + 301
            )
            .is_err()
        );
    }
}
