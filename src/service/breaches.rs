//! Breaches: opened and withdrawn by evaluation, handled by the heads of both parties; and the
//! messages every change of status sends.

use chrono::{DateTime, Utc};

use super::{Page, PageRequest, audit};
use crate::auth::Principal;
use crate::auth::policy::Action;
use crate::domain::agreement::{Agreement, SlaVersion};
use crate::domain::breach::{Breach, BreachStatus};
use crate::domain::duration::Span;
use crate::domain::evaluation::{Evaluation, Status};
use crate::domain::identity::{Role, Team};
use crate::domain::message::{EvidenceLines, MessageFacts, MessageLinks};
use crate::domain::present;
use crate::domain::sla::{Notice, Window};
use crate::error::AppError;
use crate::service::evidence;
use crate::service::notify::{self, When};
use crate::store::breaches::BreachFilter;
use crate::store::{self, DbConn, new_id, write_tx};

/// Where links in messages point.
#[derive(Clone, Debug)]
pub struct Links {
    /// `ACCORD_PUBLIC_URL`.
    pub public_url: String,
}

impl Links {
    fn page(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.trim_end_matches('/'))
    }

    /// The board of the web workspace.
    pub fn board(&self) -> String {
        self.page("/")
    }

    /// An SLA's page: its definition, versions, history and overdue leads.
    pub fn sla(&self, key: &str) -> String {
        self.page(&format!("/slas/{key}"))
    }

    /// A breach's page: its evidence, timeline and the actions the viewer may take.
    pub fn breach(&self, id: &str) -> String {
        self.page(&format!("/breaches/{id}"))
    }
}

/// The facts of a message about `agreement` for one window: the period and the value as
/// people say them, and, for a breach or a period at risk, the evidence behind the value.
#[allow(clippy::too_many_arguments)]
pub fn facts(
    conn: &mut DbConn,
    kind: &'static str,
    agreement: &Agreement,
    version: &SlaVersion,
    evaluation: &Evaluation,
    breach_id: Option<&str>,
    links: &Links,
    now: DateTime<Utc>,
) -> Result<MessageFacts, AppError> {
    let definition = &version.definition;
    let evidence = if matches!(kind, "breach.opened" | "breach.reminder" | "sla.at_risk") {
        let found = evidence::for_window(
            conn,
            version,
            evaluation.period_start,
            evaluation.period_end,
            now,
        )?;
        EvidenceLines {
            missed: found
                .missed
                .iter()
                .map(|m| match m.answered_at {
                    Some(_) => format!(
                        "{}: answered {} late",
                        m.subject_id,
                        present::lateness(&definition.metric, m.late_by_secs)
                    ),
                    None => format!(
                        "{}: not answered, {} past due",
                        m.subject_id,
                        present::lateness(&definition.metric, m.late_by_secs)
                    ),
                })
                .collect(),
            more: found.more,
            pace: found.pace,
        }
    } else {
        EvidenceLines::default()
    };
    Ok(MessageFacts {
        kind,
        sla_key: agreement.sla.key.clone(),
        sla_name: definition.name.clone(),
        provider: agreement.sla.provider.slug.clone(),
        consumer: agreement.sla.consumer.slug.clone(),
        promise: present::definition_in_words(definition),
        period: present::period(definition, evaluation.period_start, evaluation.period_end),
        reading: present::reading(
            definition,
            evaluation.value,
            evaluation.op,
            evaluation.target,
            &evaluation.details,
        ),
        version: evaluation.version,
        breach_id: breach_id.map(str::to_string),
        evidence,
        links: MessageLinks {
            sla: links.sla(&agreement.sla.key),
            breach: breach_id.map(|id| links.breach(id)),
            board: links.board(),
        },
        extra: None,
    })
}

/// The version of its SLA that `breach` was found under.
pub fn version_of(conn: &mut DbConn, breach: &Breach) -> Result<SlaVersion, AppError> {
    let sla = store::slas::find_by_key(conn, &breach.sla)?.ok_or(AppError::NotFound("sla"))?;
    store::slas::load(conn, sla)?
        .versions
        .into_iter()
        .find(|v| v.version == breach.version)
        .ok_or(AppError::NotFound("sla version"))
}

fn parties(conn: &mut DbConn, agreement: &Agreement) -> Result<(Team, Team), AppError> {
    let provider = store::teams::find_by_slug(conn, &agreement.sla.provider.slug)?
        .ok_or(AppError::NotFound("team"))?;
    let consumer = store::teams::find_by_slug(conn, &agreement.sla.consumer.slug)?
        .ok_or(AppError::NotFound("team"))?;
    Ok((provider, consumer))
}

/// Follows one stored evaluation: opens or withdraws the period's breach and sends what the
/// SLA's `notify_on` asks for. `previous` is the stored evaluation of the same window before.
/// A `historical` window (it ended before its version was signed) records its breach as
/// historical and sends nothing: [`announce_backfill`] sums such windows up.
pub fn follow(
    conn: &mut DbConn,
    agreement: &Agreement,
    previous: Option<&Evaluation>,
    evaluation: &Evaluation,
    historical: bool,
    links: &Links,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let Some(version) = agreement
        .versions
        .iter()
        .find(|v| v.version == evaluation.version)
    else {
        return Ok(());
    };
    let definition = &version.definition;
    let wants = |notice: Notice| !historical && definition.notify_on.contains(&notice);
    let rolling = matches!(definition.window, Window::Rolling { .. });
    let sla_id = &agreement.sla.id;
    let key = &agreement.sla.key;
    // The parties are read only when a message goes out: most evaluations send none.
    let to_both = |conn: &mut DbConn, facts: &MessageFacts, dedupe: &str, when: When| {
        let (provider, consumer) = parties(conn, agreement)?;
        notify::to_teams(conn, facts, &[&provider, &consumer], dedupe, when, now)
    };
    let existing = if rolling {
        store::breaches::live_for_sla(conn, sla_id)?
    } else {
        store::breaches::find_for_period(conn, sla_id, evaluation.period_start)?
    };
    let was = previous.map(|p| p.status);
    // Tells both teams a breach opened (or opened again), with its cycle's other news.
    let announce_opened = |conn: &mut DbConn, breach_id: &str, dedupe: String| {
        let facts = facts(
            conn,
            "breach.opened",
            agreement,
            version,
            evaluation,
            Some(breach_id),
            links,
            now,
        )?;
        to_both(conn, &facts, &dedupe, When::WithCycle)
    };

    match evaluation.status {
        Status::Breached
            if existing.as_ref().is_none_or(|b| {
                !rolling && !b.status.is_live() && b.status != BreachStatus::Withdrawn
            }) =>
        {
            if existing.is_none() {
                let breach = Breach {
                    id: new_id(),
                    sla_id: sla_id.clone(),
                    sla: key.clone(),
                    version: evaluation.version,
                    period_start: evaluation.period_start,
                    period_end: evaluation.period_end,
                    status: BreachStatus::Open,
                    value: evaluation.value,
                    target: evaluation.target,
                    op: evaluation.op,
                    opened_at: now,
                    acknowledged_by: None,
                    acknowledged_at: None,
                    note: None,
                    disputed_by: None,
                    dispute_reason: None,
                    closed_at: None,
                    last_reminded_at: None,
                    is_historical: historical,
                };
                store::breaches::insert(conn, &breach)?;
                audit(
                    conn,
                    &Principal::System,
                    "breach.opened",
                    ("breach", &breach.id),
                    (None, Some(&breach)),
                    now,
                )?;
                if wants(Notice::Breach) {
                    announce_opened(conn, &breach.id, format!("breach.opened:{}", breach.id))?;
                }
            }
        }
        Status::Breached => {
            // A withdrawn period breached again by a later restatement opens it again.
            if let Some(mut breach) = existing.filter(|b| b.status == BreachStatus::Withdrawn) {
                let before = breach.clone();
                breach.status = BreachStatus::Open;
                breach.value = evaluation.value;
                breach.closed_at = None;
                store::breaches::update(conn, &breach)?;
                audit(
                    conn,
                    &Principal::System,
                    "breach.reopened",
                    ("breach", &breach.id),
                    (Some(&before), Some(&breach)),
                    now,
                )?;
                if wants(Notice::Breach) {
                    // Keyed by the instant: a reopening is news again, not a repeat.
                    let dedupe = format!("breach.opened:{}:{}", breach.id, now.timestamp_micros());
                    announce_opened(conn, &breach.id, dedupe)?;
                }
            }
        }
        Status::Met | Status::OnTrack => {
            if let Some(mut breach) = existing.filter(|b| b.status.is_live()) {
                let before = breach.clone();
                // A restated period withdraws its breach; a rolling window that holds again closes it.
                let (status, kind) = if rolling {
                    (BreachStatus::Resolved, "sla.recovered")
                } else {
                    (BreachStatus::Withdrawn, "breach.withdrawn")
                };
                if rolling || evaluation.status == Status::Met {
                    breach.status = status;
                    breach.closed_at = Some(now);
                    breach.value = evaluation.value;
                    store::breaches::update(conn, &breach)?;
                    audit(
                        conn,
                        &Principal::System,
                        &format!("breach.{}", status.as_str()),
                        ("breach", &breach.id),
                        (Some(&before), Some(&breach)),
                        now,
                    )?;
                    if wants(if rolling {
                        Notice::Recovered
                    } else {
                        Notice::Breach
                    }) {
                        let facts = facts(
                            conn,
                            kind,
                            agreement,
                            version,
                            evaluation,
                            Some(&breach.id),
                            links,
                            now,
                        )?;
                        to_both(conn, &facts, &format!("{kind}:{}", breach.id), When::Now)?;
                    }
                    return Ok(());
                }
            }
            if matches!(was, Some(Status::AtRisk | Status::Breached)) && wants(Notice::Recovered) {
                let facts = facts(
                    conn,
                    "sla.recovered",
                    agreement,
                    version,
                    evaluation,
                    None,
                    links,
                    now,
                )?;
                // Keyed like `sla.at_risk`, which a period sends once: a period that flaps
                // between at risk and on track sends each message once, not once per flap.
                let dedupe = format!(
                    "sla.recovered:{key}:{}",
                    evaluation.period_start.timestamp(),
                );
                to_both(conn, &facts, &dedupe, When::Now)?;
            }
        }
        Status::AtRisk => {
            if was != Some(Status::AtRisk) && wants(Notice::AtRisk) {
                let facts = facts(
                    conn,
                    "sla.at_risk",
                    agreement,
                    version,
                    evaluation,
                    None,
                    links,
                    now,
                )?;
                to_both(
                    conn,
                    &facts,
                    &format!("sla.at_risk:{key}:{}", evaluation.period_start.timestamp()),
                    When::InDigest,
                )?;
            }
        }
        Status::NoData => {}
    }
    Ok(())
}

/// Sums up, in one message per team, the historical windows an evaluation wrote: periods that
/// ended before their version was signed. Sent once per version.
pub fn announce_backfill(
    conn: &mut DbConn,
    agreement: &Agreement,
    written: &[Evaluation],
    links: &Links,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let (Some(first), Some(last)) = (written.first(), written.last()) else {
        return Ok(());
    };
    let Some(version) = agreement
        .versions
        .iter()
        .find(|v| v.version == last.version)
    else {
        return Ok(());
    };
    let definition = &version.definition;
    let breached = written
        .iter()
        .filter(|e| e.status == Status::Breached)
        .count();
    let mut summary = facts(
        conn,
        "sla.backfilled",
        agreement,
        version,
        last,
        None,
        links,
        now,
    )?;
    let (from, to) = (
        present::period(definition, first.period_start, first.period_end),
        summary.period.clone(),
    );
    summary.period = present::PeriodName {
        label: format!("{} to {}", from.label, to.label),
        dates: format!("{} to {}", from.dates, to.dates),
        zone: to.zone.clone(),
        code: format!("{}..{}", from.code, to.code),
    };
    let value = format!(
        "{} period(s) evaluated, {breached} breached, {} met",
        written.len(),
        written.iter().filter(|e| e.status == Status::Met).count()
    );
    summary.reading.value = value.clone();
    summary.reading.sentence = value;
    let (provider, consumer) = parties(conn, agreement)?;
    notify::to_teams(
        conn,
        &summary,
        &[&provider, &consumer],
        &format!("sla.backfilled:{}", version.id),
        When::Now,
        now,
    )?;
    Ok(())
}

/// Tells both teams that the SLA's input went quiet (`sla.data_stale`) or came back
/// (`sla.data_resumed`); `since` names the stale episode, so each is sent once per episode.
pub fn announce_feed(
    conn: &mut DbConn,
    agreement: &Agreement,
    kind: &'static str,
    since: DateTime<Utc>,
    links: &Links,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let Some(version) = agreement.current(now) else {
        return Ok(());
    };
    let definition = &version.definition;
    let (provider, consumer) = parties(conn, agreement)?;
    let objective = present::reading(
        definition,
        None,
        definition.objective.op,
        definition.objective.target,
        &serde_json::Value::Null,
    );
    let value = match kind {
        "sla.data_stale" => "no new activity",
        _ => "activity arriving again",
    };
    let message = MessageFacts {
        kind,
        sla_key: agreement.sla.key.clone(),
        sla_name: definition.name.clone(),
        provider: provider.slug.clone(),
        consumer: consumer.slug.clone(),
        promise: present::definition_in_words(definition),
        period: notify::since(since),
        reading: present::Reading {
            value: value.into(),
            sentence: value.into(),
            target: objective.target,
            met: None,
        },
        version: version.version,
        breach_id: None,
        evidence: EvidenceLines::default(),
        links: MessageLinks {
            sla: links.sla(&agreement.sla.key),
            breach: None,
            board: links.board(),
        },
        extra: None,
    };
    notify::to_teams(
        conn,
        &message,
        &[&provider, &consumer],
        &format!("{kind}:{}:{}", agreement.sla.key, since.timestamp_micros()),
        When::Now,
        now,
    )?;
    Ok(())
}

/// Reminds both teams of open breaches nobody acknowledged for `every`.
pub fn remind(
    conn: &mut DbConn,
    every: Span,
    links: &Links,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let mut sent = 0;
    for breach in store::breaches::due_for_reminder(conn, now - every.as_delta())? {
        // One breach whose SLA cannot be read (a corrupt row) must not silence the others.
        match remind_one(conn, &breach, links, now) {
            Ok(reminded) => sent += usize::from(reminded),
            Err(error) => {
                tracing::error!(breach.id = %breach.id, sla.key = %breach.sla, error = %error, "reminding a breach failed; the others go on");
            }
        }
    }
    Ok(sent)
}

/// Reminds both teams of one breach; false when there was nothing to send or another replica
/// sent it first.
fn remind_one(
    conn: &mut DbConn,
    breach: &Breach,
    links: &Links,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let Some(sla) = store::slas::find_by_key(conn, &breach.sla)? else {
        return Ok(false);
    };
    let agreement = store::slas::load(conn, sla)?;
    let Some(version) = agreement
        .versions
        .iter()
        .find(|v| v.version == breach.version)
    else {
        return Ok(false);
    };
    let evaluation = as_evaluation(breach, now);
    let facts = facts(
        conn,
        "breach.reminder",
        &agreement,
        version,
        &evaluation,
        Some(&breach.id),
        links,
        now,
    )?;
    let (provider, consumer) = parties(conn, &agreement)?;
    write_tx(conn, |conn| {
        // Another replica may have sent this reminder since the breach was read.
        if !store::breaches::mark_reminded(conn, &breach.id, breach.last_reminded_at, now)? {
            return Ok::<_, AppError>(false);
        }
        notify::to_teams(
            conn,
            &facts,
            &[&provider, &consumer],
            &format!("breach.reminder:{}:{}", breach.id, now.timestamp()),
            When::InDigest,
            now,
        )?;
        Ok(true)
    })
}

/// The breached period as an evaluation, for the messages that speak of it later.
fn as_evaluation(breach: &Breach, now: DateTime<Utc>) -> Evaluation {
    Evaluation {
        sla: breach.sla.clone(),
        version: breach.version,
        period_start: breach.period_start,
        period_end: breach.period_end,
        is_final: false,
        value: breach.value,
        target: breach.target,
        op: breach.op,
        status: Status::Breached,
        data_stale: false,
        details: serde_json::Value::Null,
        evaluated_at: now,
    }
}

/// The breach and its agreement, read under the SLA's row lock: an evaluation changing the same
/// breach (withdrawing it, say) commits before or after this action, never in between.
fn load_for_action(conn: &mut DbConn, id: &str) -> Result<(Breach, Agreement), AppError> {
    let breach = store::breaches::find(conn, id)?.ok_or(AppError::NotFound("breach"))?;
    let sla = store::slas::find_by_key(conn, &breach.sla)?.ok_or(AppError::NotFound("sla"))?;
    store::slas::lock_unchanged(conn, &sla.id)?;
    let breach = store::breaches::find(conn, id)?.ok_or(AppError::NotFound("breach"))?;
    Ok((breach, store::slas::load(conn, sla)?))
}

fn email_of(actor: &Principal) -> String {
    match actor {
        Principal::User(user) => user.email.clone(),
        other => other.actor(),
    }
}

/// What a head does with a breach.
#[derive(Clone, Debug)]
pub enum Handling {
    /// Seen, with a note on what happens next (a head of either party).
    Acknowledge(String),
    /// Contested, with a reason (the provider's head).
    Dispute(String),
    /// Dealt with (a head of either party, or an admin).
    Resolve(Option<String>),
}

/// Acknowledges, disputes or resolves a breach.
pub fn handle(
    conn: &mut DbConn,
    actor: &Principal,
    id: &str,
    handling: Handling,
    links: &Links,
    now: DateTime<Utc>,
) -> Result<Breach, AppError> {
    let text = match &handling {
        Handling::Acknowledge(t) | Handling::Dispute(t) => Some(t.trim().to_string()),
        Handling::Resolve(t) => t.as_ref().map(|t| t.trim().to_string()),
    };
    if text.as_deref().is_some_and(str::is_empty)
        || matches!(handling, Handling::Acknowledge(_) | Handling::Dispute(_)) && text.is_none()
    {
        let field = if matches!(handling, Handling::Dispute(_)) {
            "reason"
        } else {
            "note"
        };
        return Err(AppError::invalid(field, "must not be blank"));
    }
    write_tx(conn, |conn| {
        let (mut breach, agreement) = load_for_action(conn, id)?;
        let (provider, consumer) = (&agreement.sla.provider.id, &agreement.sla.consumer.id);
        let before = breach.clone();
        let action = match &handling {
            Handling::Acknowledge(_) => {
                actor.authorize(Action::AcknowledgeBreach { provider, consumer })?;
                if breach.status != BreachStatus::Open {
                    return Err(AppError::Conflict(format!(
                        "the breach is {}; only an open breach is acknowledged",
                        breach.status.as_str()
                    )));
                }
                breach.status = BreachStatus::Acknowledged;
                breach.acknowledged_by = Some(email_of(actor));
                breach.acknowledged_at = Some(now);
                breach.note = text.clone();
                "breach.acknowledged"
            }
            Handling::Dispute(_) => {
                actor.authorize(Action::DisputeBreach { provider })?;
                if !matches!(
                    breach.status,
                    BreachStatus::Open | BreachStatus::Acknowledged
                ) {
                    return Err(AppError::Conflict(format!(
                        "the breach is {}",
                        breach.status.as_str()
                    )));
                }
                breach.status = BreachStatus::Disputed;
                breach.disputed_by = Some(email_of(actor));
                breach.dispute_reason = text.clone();
                "breach.disputed"
            }
            Handling::Resolve(_) => {
                actor.authorize(Action::ResolveBreach { provider, consumer })?;
                if !breach.status.is_live() {
                    return Err(AppError::Conflict(format!(
                        "the breach is {}",
                        breach.status.as_str()
                    )));
                }
                breach.status = BreachStatus::Resolved;
                breach.closed_at = Some(now);
                if text.is_some() {
                    breach.note = text.clone();
                }
                "breach.resolved"
            }
        };
        store::breaches::update(conn, &breach)?;
        audit(
            conn,
            actor,
            action,
            ("breach", &breach.id),
            (Some(&before), Some(&breach)),
            now,
        )?;
        if let Some(version) = agreement
            .versions
            .iter()
            .find(|v| v.version == breach.version)
        {
            // Both teams hear of every step, threaded under the breach's opening mail.
            let evaluation = as_evaluation(&breach, now);
            let mut facts = facts(
                conn,
                action,
                &agreement,
                version,
                &evaluation,
                Some(&breach.id),
                links,
                now,
            )?;
            let by = email_of(actor);
            let said = text.clone().unwrap_or_default();
            facts.extra = Some(match action {
                "breach.acknowledged" => format!("Acknowledged by {by}: {said}"),
                "breach.disputed" => format!("Disputed by {by}: {said}"),
                _ if said.is_empty() => format!("Resolved by {by}."),
                _ => format!("Resolved by {by}: {said}"),
            });
            let (p, c) = parties(conn, &agreement)?;
            notify::to_teams(
                conn,
                &facts,
                &[&p, &c],
                &format!("{action}:{}", breach.id),
                When::Now,
                now,
            )?;
        }
        Ok(breach)
    })
}

/// Breaches newest first; people see their own team's, admins all.
pub fn list(
    conn: &mut DbConn,
    actor: &Principal,
    mut filter: BreachFilter,
    page: &PageRequest,
) -> Result<Page<Breach>, AppError> {
    actor.authorize(Action::ReadBreaches)?;
    if let (Some(role), Some(team)) = (actor.role(), actor.team())
        && role != Role::Admin
        && filter.team_id.is_none()
    {
        filter.team_id = Some(team.id.clone());
    }
    let found = store::breaches::list(conn, &filter, page.after.as_deref(), page.fetch_limit())?;
    Ok(page.finish(found, |b| b.id.clone()))
}

/// One breach.
pub fn get(conn: &mut DbConn, actor: &Principal, id: &str) -> Result<Breach, AppError> {
    actor.authorize(Action::ReadBreaches)?;
    store::breaches::find(conn, id)?.ok_or(AppError::NotFound("breach"))
}
