//! Writing messages to the outbox, inside the caller's transaction: rendered once, with the
//! headers every delivery attempt sends. Breaches one evaluation cycle finds go to each team as
//! one summary; a team with a digest gets its at-risk messages and reminders once a day.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::domain::agreement::Sla;
use crate::domain::identity::{Team, WebhookKind};
use crate::domain::message::{Message, MessageFacts, Summary};
use crate::domain::present::PeriodName;
use crate::error::AppError;
use crate::service::breaches::Links;
use crate::store::outbox::NewMessage;
use crate::store::{self, DbConn, write_tx};

/// When a message to a team goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Now.
    Now,
    /// With the other breaches of the same evaluation cycle, as one summary ([`release`]).
    WithCycle,
    /// In the team's daily digest if it takes one, else now.
    InDigest,
}

/// The host of `ACCORD_PUBLIC_URL`, the right-hand side of every Message-ID accord writes.
pub fn mail_host(board: &str) -> String {
    let rest = board.split_once("://").map_or(board, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let host = if host.starts_with('[') {
        host.trim_start_matches('[')
            .split(']')
            .next()
            .unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        "accord.invalid".into()
    } else {
        host.to_ascii_lowercase()
    }
}

/// The left-hand side of a Message-ID made from a cause (`breach.opened:<id>` → `breach.opened.<id>`).
fn id_part(cause: &str) -> String {
    let part: String = cause
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_".contains(c) {
                c
            } else {
                '.'
            }
        })
        .collect();
    part.split('.')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(".")
}

/// The Message-ID of a breach's opening mail, the root every later mail about it threads under.
pub fn breach_thread(breach_id: &str, host: &str) -> String {
    format!("<breach.opened.{}@{host}>", id_part(breach_id))
}

/// The headers of a mail written for `cause`.
fn mail_headers(message: &Message, cause: &str) -> Map<String, Value> {
    let board = match message {
        Message::One(f) => &f.links.board,
        Message::Many(s) => &s.board,
    };
    let host = mail_host(board);
    let mut headers = Map::new();
    headers.insert(
        "Message-ID".into(),
        json!(format!("<{}@{host}>", id_part(cause))),
    );
    match message {
        Message::One(f) => {
            headers.insert(
                "List-Id".into(),
                json!(format!(
                    "{} <{}.accord.{host}>",
                    f.sla_key,
                    id_part(&f.sla_key)
                )),
            );
            if let Some(breach) = &f.breach_id {
                let root = breach_thread(breach, &host);
                if headers["Message-ID"] != json!(root) {
                    headers.insert("In-Reply-To".into(), json!(root));
                    headers.insert("References".into(), json!(root));
                }
            }
        }
        Message::Many(s) => {
            headers.insert(
                "List-Id".into(),
                json!(format!(
                    "{} <{}.teams.accord.{host}>",
                    s.team,
                    id_part(&s.team)
                )),
            );
        }
    }
    headers
}

/// Writes `message` to one team's address, and to its webhook if it has one.
fn enqueue_to_team(
    conn: &mut DbConn,
    message: &Message,
    team: &Team,
    cause: &str,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let mail = message.mail();
    let email = json!({"text": mail.text, "html": mail.html});
    let key = format!("{cause}:email:{}", team.slug);
    let headers = mail_headers(message, cause);
    let mut queued = usize::from(store::outbox::enqueue(
        conn,
        NewMessage {
            kind: message.kind(),
            team_id: Some(&team.id),
            channel: "email",
            recipient: &team.email,
            subject: &mail.subject,
            payload: &email,
            dedupe_key: &key,
            headers: &headers,
        },
        now,
    )?);
    if let Some(url) = &team.webhook_url {
        let key = format!("{cause}:webhook:{}", team.slug);
        let mut headers = Map::new();
        let body = match team.webhook_kind {
            WebhookKind::Slack => message.slack(),
            WebhookKind::Teams => message.teams(),
            WebhookKind::Generic => {
                // The same id on every attempt: the receiver drops a delivery it has seen.
                let id = hex::encode(Sha256::digest(key.as_bytes()));
                headers.insert("webhook-id".into(), json!(format!("msg_{}", &id[..32])));
                message.generic(&now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }
        };
        queued += usize::from(store::outbox::enqueue(
            conn,
            NewMessage {
                kind: message.kind(),
                team_id: Some(&team.id),
                channel: "webhook",
                recipient: url,
                subject: &mail.subject,
                payload: &body,
                dedupe_key: &key,
                headers: &headers,
            },
            now,
        )?);
    }
    Ok(queued)
}

/// Sends `facts` to each team (its address, and its webhook if it has one), now or held as
/// `when` says. `dedupe` names the cause (e.g. `breach.opened:<breach id>`); the same cause is
/// never sent twice.
pub fn to_teams(
    conn: &mut DbConn,
    facts: &MessageFacts,
    teams: &[&Team],
    dedupe: &str,
    when: When,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let mut queued = 0;
    for team in teams {
        let batch = match when {
            When::Now => None,
            When::WithCycle => Some("cycle"),
            When::InDigest => team.digest.as_ref().map(|_| "digest"),
        };
        match batch {
            None => {
                queued += enqueue_to_team(conn, &Message::One(facts.clone()), team, dedupe, now)?;
            }
            Some(batch) => {
                let key = format!("{dedupe}{HELD}{}", team.slug);
                store::held::hold(conn, &team.id, batch, facts.kind, &facts.data(), &key, now)?;
            }
        }
    }
    Ok(queued)
}

/// Between a held message's cause and its team in its dedupe key.
const HELD: &str = ":held:";

/// Most messages one summary carries; more go in the next.
const SUMMARY_LIMIT: i64 = 200;

/// Sends what waits: the breaches held by evaluation cycles (one message per team: the breach's
/// own when there is one, a summary when there are several), and the digests that are due.
/// Each team's batch is written in one transaction with the outbox message that carries it.
pub fn release(conn: &mut DbConn, links: &Links, now: DateTime<Utc>) -> Result<usize, AppError> {
    let mut queued = 0;
    for team_id in store::held::teams_waiting(conn, "cycle")? {
        queued += release_batch(conn, &team_id, "cycle", links, now)?;
    }
    // Every digest team claims its digest hour as it passes, with or without news: what is held
    // after it waits for the next day's.
    let mut digest_teams: Vec<String> = store::teams::with_digest(conn)?
        .into_iter()
        .map(|team| team.id)
        .collect();
    for team_id in store::held::teams_waiting(conn, "digest")? {
        // A team that turned its digest off gets what was held at once.
        if !digest_teams.contains(&team_id) {
            digest_teams.push(team_id);
        }
    }
    for team_id in digest_teams {
        queued += release_batch(conn, &team_id, "digest", links, now)?;
    }
    Ok(queued)
}

/// The instant of the digest hour that last began at or before `now` in the team's zone.
fn digest_slot(team: &Team, now: DateTime<Utc>) -> Option<(DateTime<Utc>, chrono::NaiveDate)> {
    let digest = team.digest.as_ref()?;
    let zone = digest.timezone;
    let local = now.with_timezone(&zone);
    let at = NaiveTime::from_hms_opt(u32::from(digest.hour), 0, 0)?;
    let mut day = local.date_naive();
    if local.time() < at {
        day = day.pred_opt()?;
    }
    let slot = zone
        .from_local_datetime(&day.and_time(at))
        .earliest()
        .map_or(now - Duration::days(1), |t| t.with_timezone(&Utc));
    Some((slot, day))
}

fn release_batch(
    conn: &mut DbConn,
    team_id: &str,
    batch: &str,
    links: &Links,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let result = write_tx(conn, |conn| {
        let Some(team) = store::teams::find(conn, team_id)? else {
            return Ok(0);
        };
        let slot = digest_slot(&team, now);
        if batch == "digest"
            && let Some((slot, _)) = slot
            && !store::teams::claim_digest(conn, &team.id, slot, now)?
        {
            return Ok(0);
        }
        let held = store::held::waiting(conn, &team.id, batch, SUMMARY_LIMIT)?;
        if held.is_empty() {
            return Ok(0);
        }
        let board = links.board();
        let mut items: Vec<MessageFacts> = held
            .iter()
            .filter_map(|h| MessageFacts::from_data(&h.kind, &h.facts, &board))
            .collect();
        // By SLA and period, not by when each was held: SLAs may be evaluated at once.
        items.sort_by(|a, b| (&a.sla_key, &a.period.code).cmp(&(&b.sla_key, &b.period.code)));
        let (message, cause) = match (batch, items.as_slice()) {
            ("cycle", [one]) => {
                let cause = held[0]
                    .dedupe_key
                    .strip_suffix(&format!("{HELD}{}", team.slug))
                    .unwrap_or(&held[0].dedupe_key)
                    .to_string();
                (Message::One(one.clone()), cause)
            }
            ("cycle", _) => (
                Message::Many(Summary {
                    kind: "breach.summary",
                    team: team.slug.clone(),
                    title: now.format("evaluated %a %-d %b %Y, %H:%M UTC").to_string(),
                    items,
                    board,
                }),
                format!("breach.summary:{}", held[0].id),
            ),
            _ => {
                let day = slot.map_or(now.date_naive(), |(_, day)| day);
                (
                    Message::Many(Summary {
                        kind: "digest.daily",
                        team: team.slug.clone(),
                        title: day.format("%a %-d %b %Y").to_string(),
                        items,
                        board,
                    }),
                    format!("digest.daily:{}:{}", team.slug, held[0].id),
                )
            }
        };
        let ids: Vec<String> = held.iter().map(|h| h.id.clone()).collect();
        if !store::held::release(conn, &ids, &cause)? {
            // Another replica released some of them first: this attempt writes nothing.
            return Err(AppError::Conflict(
                "held messages released elsewhere".into(),
            ));
        }
        enqueue_to_team(conn, &message, &team, &cause, now)
    });
    match result {
        Err(AppError::Conflict(_)) => Ok(0),
        other => other,
    }
}

/// Enqueues `facts` by email to each address with the team (id) it is sent for: heads who must
/// sign, for instance, or admins (no team).
pub fn to_people(
    conn: &mut DbConn,
    facts: &MessageFacts,
    recipients: &[(String, Option<String>)],
    dedupe: &str,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let message = Message::One(facts.clone());
    let mail = message.mail();
    let email = json!({"text": mail.text, "html": mail.html});
    let headers = mail_headers(&message, dedupe);
    let mut queued = 0;
    for (address, team_id) in recipients {
        let key = format!("{dedupe}:email:{address}");
        let message = NewMessage {
            kind: facts.kind,
            team_id: team_id.as_deref(),
            channel: "email",
            recipient: address,
            subject: &mail.subject,
            payload: &email,
            dedupe_key: &key,
            headers: &headers,
        };
        queued += usize::from(store::outbox::enqueue(conn, message, now)?);
    }
    Ok(queued)
}

/// A moment as a period: `since Tue 1 Dec 2026, 14:00 UTC`.
pub fn since(at: DateTime<Utc>) -> PeriodName {
    let label = format!("since {}", at.format("%a %-d %b %Y, %H:%M UTC"));
    PeriodName {
        dates: at.format("%a %-d %b %Y").to_string(),
        zone: "UTC".into(),
        code: at.format("%Y-%m-%dT%H:%MZ").to_string(),
        label,
    }
}

/// Tells the admins that an SLA can no longer be evaluated, once per episode of failures
/// (`since` names the episode).
pub fn evaluation_failed(
    conn: &mut DbConn,
    sla: &Sla,
    reason: &str,
    since_at: DateTime<Utc>,
    links: &Links,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let key = &sla.key;
    let facts = MessageFacts {
        kind: "sla.evaluation_failed",
        sla_key: key.clone(),
        sla_name: key.clone(),
        provider: sla.provider.slug.clone(),
        consumer: sla.consumer.slug.clone(),
        promise: format!(
            "{key}, between {} and {}",
            sla.provider.slug, sla.consumer.slug
        ),
        period: since(since_at),
        reading: crate::domain::present::Reading {
            value: "not evaluated".into(),
            sentence: "not evaluated".into(),
            target: "not judged while this lasts".into(),
            met: None,
        },
        version: 0,
        breach_id: None,
        evidence: Default::default(),
        links: crate::domain::message::MessageLinks {
            sla: links.sla(key),
            breach: None,
            board: links.board(),
        },
        extra: Some(format!("Reason: {reason}")),
    };
    let admins: Vec<(String, Option<String>)> = store::users::admin_emails(conn)?
        .into_iter()
        .map(|email| (email, None))
        .collect();
    let dedupe = format!(
        "sla.evaluation_failed:{key}:{}",
        since_at.timestamp_micros()
    );
    to_people(conn, &facts, &admins, &dedupe, now)
}

/// The outbox, newest first, optionally of one status (admins and heads).
pub fn list(
    conn: &mut DbConn,
    actor: &crate::auth::Principal,
    status: Option<&str>,
    page: &crate::service::PageRequest,
) -> Result<crate::service::Page<store::outbox::OutboxMessage>, AppError> {
    actor.authorize(crate::auth::policy::Action::ManageNotifications)?;
    if let Some(status) = status
        && !["pending", "sent", "failed"].contains(&status)
    {
        return Err(AppError::BadRequest(format!(
            "status must be pending, sent or failed, not {status:?}"
        )));
    }
    let team = match actor.visibility() {
        crate::auth::policy::Visibility::All => None,
        crate::auth::policy::Visibility::Team(team) => Some(team),
    };
    let found = store::outbox::list(
        conn,
        status,
        team.as_deref(),
        page.after.as_deref(),
        page.fetch_limit(),
    )?;
    Ok(page.finish(found, |m| m.id.clone()))
}

/// Puts a failed message back in line, due now.
pub fn retry(
    conn: &mut DbConn,
    actor: &crate::auth::Principal,
    id: &str,
    now: DateTime<Utc>,
) -> Result<store::outbox::OutboxMessage, AppError> {
    actor.authorize(crate::auth::policy::Action::ManageNotifications)?;
    let message = store::outbox::find(conn, id)?.ok_or(AppError::NotFound("notification"))?;
    // A head retries only their own team's messages; others' are not theirs to know of.
    if let crate::auth::policy::Visibility::Team(team) = actor.visibility()
        && !store::outbox::is_to_team(conn, id, &team)?
    {
        return Err(AppError::NotFound("notification"));
    }
    if !store::outbox::retry(conn, id, now)? {
        return Err(AppError::Conflict(format!(
            "the notification is {}; only a failed one is retried",
            message.status
        )));
    }
    crate::service::audit(
        conn,
        actor,
        "notification.retried",
        ("notification", id),
        (None::<&String>, None),
        now,
    )?;
    store::outbox::find(conn, id)?.ok_or(AppError::NotFound("notification"))
}
