//! `POST /integrations/slack/command`: a Slack slash command, verified by its signature.

use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, HttpResponse, post, web};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::collections::HashMap;

use super::json::read_body;
use crate::auth::Principal;
use crate::domain::agreement::Agreement;
use crate::domain::breach::BreachStatus;
use crate::domain::chat::{Line, SlackMessage, escape};
use crate::domain::present;
use crate::error::AppError;
use crate::service;
use crate::service::breaches::Links;
use crate::service::reports::StatusLine;
use crate::startup::AppState;
use crate::store::breaches::BreachFilter;
use crate::store::{self, DbConn};

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
                • `breaches` — every breach that is open or acknowledged\n• `overdue <sla>` — the leads overdue for a response-time SLA\n• `help` — this";
    let mut message = SlackMessage::new(&format!("accord help\n{text}"));
    message.header("accord help");
    message.section(text);
    message.into_json(true)
}

/// An answer: a header, then one line each (with its button), cut to Slack's limits with "and N
/// more" linking to `rest`; the fallback text carries the lines too, for clients without blocks.
fn answer(title: &str, lines: &[Line], plain: &[String], rest: &str) -> serde_json::Value {
    let fallback = if plain.is_empty() {
        format!("{title}\nNothing to show.")
    } else {
        format!("{title}\n{}", plain.join("\n"))
    };
    let mut message = SlackMessage::new(&fallback);
    message.header(title);
    if lines.is_empty() {
        message.section("Nothing to show.");
    } else {
        message.list(lines, 0, rest);
    }
    message.into_json(true)
}

/// Names what exists when the caller named a team or SLA that does not.
fn unknown(
    conn: &mut DbConn,
    what: &str,
    name: &str,
    links: &Links,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<serde_json::Value, AppError> {
    let teams: Vec<String> = store::teams::list(conn, None, 200)?
        .into_iter()
        .map(|t| format!("`{}`", escape(&t.slug)))
        .collect();
    let slas: Vec<String> = service::reports::board(conn, &Principal::System, None, now)?
        .into_iter()
        .map(|l| format!("`{}`", escape(&l.sla)))
        .collect();
    let intro = format!("There is no {what} called `{}`.", escape(name));
    let mut message = SlackMessage::new(&format!(
        "Unknown {what}: {name}. Teams: {}. SLAs: {}.",
        teams.join(", ").replace('`', ""),
        slas.join(", ").replace('`', "")
    ));
    message.header(&format!("Unknown {what}"));
    message.section(&intro);
    let mut lines = vec![Line {
        text: format!("*Teams:* {}", teams.join(", ")),
        button: None,
    }];
    lines.push(Line {
        text: format!(
            "*SLAs:* {}",
            if slas.is_empty() {
                "none yet".to_string()
            } else {
                slas.join(", ")
            }
        ),
        button: None,
    });
    message.list(&lines, 0, &links.board());
    Ok(message.into_json(true))
}

/// One SLA on the board: `*MQL volume* (marketing → sales) — At risk` and its reading.
fn status_line(line: &StatusLine, links: &Links) -> (Line, String) {
    let status = present::status_words(line.status_or("not evaluated yet"));
    let reading = match (&line.period_name, &line.reading) {
        (Some(period), Some(reading)) => format!(
            "{}: {}; target {}",
            period.short(),
            reading.sentence,
            reading.target
        ),
        _ => "not evaluated yet".to_string(),
    };
    let overdue = line
        .overdue
        .filter(|n| *n > 0)
        .map(|n| format!(", {n} overdue"))
        .unwrap_or_default();
    let error = line
        .error
        .as_ref()
        .map(|e| format!(" ({e})"))
        .unwrap_or_default();
    let plain = format!(
        "{} ({}, {} → {}) — {status}{error}: {reading}{overdue}",
        line.name, line.sla, line.provider, line.consumer
    );
    let text = format!(
        "*{}* (`{}`, {} → {}) — {}{}\n{}{}",
        escape(&line.name),
        escape(&line.sla),
        escape(&line.provider),
        escape(&line.consumer),
        escape(status),
        escape(&error),
        escape(&reading),
        escape(&overdue)
    );
    (
        Line {
            text,
            button: Some(("Open".into(), links.sla(&line.sla))),
        },
        plain,
    )
}

/// Every breach that needs someone (open or acknowledged), oldest period first, read page by page.
fn live_breaches(conn: &mut DbConn, links: &Links) -> Result<(Vec<Line>, Vec<String>), AppError> {
    let mut found = Vec::new();
    for status in [BreachStatus::Open, BreachStatus::Acknowledged] {
        let mut after: Option<String> = None;
        loop {
            let filter = BreachFilter {
                status: Some(status),
                ..Default::default()
            };
            let page = store::breaches::list(conn, &filter, after.as_deref(), 200)?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            found.extend(page);
        }
    }
    found.sort_by(|a, b| a.period_start.cmp(&b.period_start).then(a.id.cmp(&b.id)));
    let mut agreements: HashMap<String, Option<Agreement>> = HashMap::new();
    let (mut lines, mut plain) = (Vec::new(), Vec::new());
    for breach in found {
        if !agreements.contains_key(&breach.sla) {
            let agreement = match store::slas::find_by_key(conn, &breach.sla)? {
                Some(sla) => Some(store::slas::load(conn, sla)?),
                None => None,
            };
            agreements.insert(breach.sla.clone(), agreement);
        }
        let agreement = agreements.get(&breach.sla).and_then(Option::as_ref);
        let definition = agreement.and_then(|a| {
            a.versions
                .iter()
                .find(|v| v.version == breach.version)
                .map(|v| &v.definition)
        });
        let (name, parties, said) = match (agreement, definition) {
            (Some(agreement), Some(definition)) => {
                let period = present::period(definition, breach.period_start, breach.period_end);
                let reading = present::reading(
                    definition,
                    breach.value,
                    breach.op,
                    breach.target,
                    &serde_json::Value::Null,
                );
                (
                    definition.name.clone(),
                    format!(
                        "{}, {} → {}",
                        agreement.sla.key, agreement.sla.provider.slug, agreement.sla.consumer.slug
                    ),
                    format!(
                        "{}: {}; target {}",
                        period.short(),
                        reading.sentence,
                        reading.target
                    ),
                )
            }
            _ => (breach.sla.clone(), String::new(), String::new()),
        };
        let status = present::status_words(breach.status.as_str());
        plain.push(format!("{name} ({parties}) — {status}: {said}"));
        lines.push(Line {
            text: format!(
                "*{}* ({}) — {}\n{}",
                escape(&name),
                escape(&parties),
                escape(status),
                escape(&said)
            ),
            button: Some(("Open the breach".into(), links.breach(&breach.id))),
        });
    }
    Ok((lines, plain))
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
    let links = state.config.links();
    let answer = match verb.as_str() {
        "status" => {
            // The same kept board as `/status` (see `service::reports::current_board`).
            let board = service::reports::current_board(&state.db, now).await?;
            let all = board.lines_for(&Principal::System, None)?;
            let known = |a: &str| board.has_team(a) || all.iter().any(|l| l.sla == a);
            match arg {
                // Not on the board: a proposed or retired SLA shows nothing, anything else
                // is answered with the names that exist.
                Some(a) if !known(&a) => {
                    state
                        .db
                        .run(move |conn| match store::slas::find_by_key(conn, &a)? {
                            Some(_) => Ok(answer(
                                "Where the agreements stand",
                                &[],
                                &[],
                                &links.board(),
                            )),
                            None => unknown(conn, "team or SLA", &a, &links, now),
                        })
                        .await?
                }
                arg => {
                    let team = arg.as_deref().filter(|a| board.has_team(a));
                    let (lines, plain): (Vec<Line>, Vec<String>) = board
                        .lines_for(&Principal::System, team)?
                        .into_iter()
                        .filter(|l| team.is_some() || arg.as_deref().is_none_or(|sla| l.sla == sla))
                        .map(|l| status_line(l, &links))
                        .unzip();
                    answer("Where the agreements stand", &lines, &plain, &links.board())
                }
            }
        }
        "breaches" => {
            state
                .db
                .run(move |conn| {
                    let (lines, plain) = live_breaches(conn, &links)?;
                    Ok(answer(
                        "Breaches that need someone",
                        &lines,
                        &plain,
                        &links.board(),
                    ))
                })
                .await?
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
                        let plain: Vec<String> = items
                            .iter()
                            .map(|i| match i.overdue {
                                true => format!(
                                    "{} — overdue by {}",
                                    i.subject_id,
                                    present::duration(i.overdue_secs)
                                ),
                                false => format!(
                                    "{} — due in {}",
                                    i.subject_id,
                                    present::duration(-i.overdue_secs)
                                ),
                            })
                            .collect();
                        let lines: Vec<Line> = plain
                            .iter()
                            .map(|p| Line {
                                text: format!("• {}", escape(p)),
                                button: None,
                            })
                            .collect();
                        answer(
                            &format!("Overdue for {sla}"),
                            &lines,
                            &plain,
                            &links.sla(&sla),
                        )
                    }
                    Err(AppError::NotFound(_)) => {
                        state
                            .db
                            .run(move |conn| unknown(conn, "SLA", &sla, &links, now))
                            .await?
                    }
                    Err(AppError::Conflict(detail)) => {
                        let mut message =
                            SlackMessage::new(&format!("Not a response-time SLA\n{detail}"));
                        message.header("Not a response-time SLA");
                        message.section(&escape(&detail));
                        message.into_json(true)
                    }
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

    /// `status` with 200 SLAs of 200-character names: within Block Kit's limits, the rest named.
    #[test]
    fn a_long_answer_keeps_to_the_limits() {
        let (lines, plain): (Vec<Line>, Vec<String>) = (0..200)
            .map(|i| {
                let name = format!("{i:03} {}", "<&>".repeat(66));
                (
                    Line {
                        text: format!("*{}* (sales → marketing) — At risk\nweek 46 of 2026 (2026-W46): 9 lead.qualified events; target at least 20", escape(&name)),
                        button: Some(("Open".into(), format!("https://accord.example.com/slas/s{i}"))),
                    },
                    name,
                )
            })
            .unzip();
        let body = answer(
            "Where the agreements stand",
            &lines,
            &plain,
            "https://accord.example.com/",
        );
        let problems = crate::domain::chat::slack_violations(&body);
        assert!(problems.is_empty(), "{problems:?}");
        let blocks = body["blocks"].as_array().unwrap();
        let last = blocks.last().unwrap()["text"]["text"].as_str().unwrap();
        assert!(
            last.starts_with("and ") && last.ends_with("|see them all>"),
            "{last}"
        );
        assert!(body["text"].as_str().unwrap().chars().count() <= 3000);
        assert!(!body.to_string().contains("<&>"), "mrkdwn is escaped");
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
