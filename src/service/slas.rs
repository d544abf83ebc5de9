//! Agreements: proposing, signing, revising and retiring SLAs.
//!
//! Every change to one SLA first takes that SLA's row lock ([`store::slas::lock`]), then reads
//! it afresh: two heads approving at once, or an approval racing a revision, are decided by the
//! database one after the other, never by timing.

use chrono::{DateTime, Utc};

use super::{Page, PageRequest};
use crate::auth::Principal;
use crate::auth::policy::Action;
use crate::domain::FieldErrors;
use crate::domain::agreement::{Agreement, Approval, Sla, SlaVersion};
use crate::domain::identity::{Role, TeamRef};
use crate::domain::sla::{Definition, DefinitionInput, SlaStatus, VersionStatus};
use crate::error::AppError;
use crate::service::breaches::Links;
use crate::store::slas::SlaFilter;
use crate::store::{self, DbConn, new_id, write_tx};

fn team_ref(conn: &mut DbConn, slug: &str) -> Result<Option<TeamRef>, AppError> {
    Ok(store::teams::find_by_slug(conn, slug)?.map(|t| TeamRef {
        id: t.id,
        slug: t.slug,
    }))
}

/// Parses a definition and checks what needs the database: both teams, filter teams, the calendar.
pub fn check_definition(
    conn: &mut DbConn,
    input: DefinitionInput,
    key: &str,
) -> Result<(Definition, TeamRef, TeamRef), AppError> {
    let mut errors = FieldErrors::new();
    let provider = team_ref(conn, &input.provider)?;
    let consumer = team_ref(conn, &input.consumer)?;
    for (field, slug, found) in [
        ("provider", &input.provider, &provider),
        ("consumer", &input.consumer, &consumer),
    ] {
        if found.is_none() {
            errors.insert(field.into(), format!("no team with slug {slug:?}"));
        }
    }
    let definition = match input.parse(key) {
        Ok(definition) => Some(definition),
        Err(parse_errors) => {
            for (field, message) in parse_errors {
                errors.entry(field).or_insert(message);
            }
            None
        }
    };
    if let Some(definition) = &definition {
        if let Some(calendar) = definition.metric.calendar()
            && store::calendars::find(conn, calendar)?.is_none()
        {
            errors.insert(
                "metric.calendar".into(),
                format!("no calendar with key {calendar:?}"),
            );
        }
        for (field, slug) in definition.metric.filter_teams() {
            if team_ref(conn, slug)?.is_none() {
                errors.insert(field.into(), format!("no team with slug {slug:?}"));
            }
        }
    }
    AppError::check(errors)?;
    match (definition, provider, consumer) {
        (Some(definition), Some(provider), Some(consumer)) => Ok((definition, provider, consumer)),
        _ => Err(anyhow::anyhow!("a definition without errors lacks a part").into()),
    }
}

/// The team a head signs for, when the proposer's own side counts as signed.
fn signing_team(
    actor: &Principal,
    provider: &TeamRef,
    consumer: &TeamRef,
) -> Option<(TeamRef, String, String)> {
    let Principal::User(user) = actor else {
        return None;
    };
    let team = user.team.as_ref().filter(|_| user.role == Role::Head)?;
    [provider, consumer]
        .into_iter()
        .find(|party| party.id == team.id)
        .map(|party| (party.clone(), user.id.clone(), user.email.clone()))
}

fn new_version(
    number: i32,
    definition: Definition,
    actor: &Principal,
    now: DateTime<Utc>,
) -> SlaVersion {
    SlaVersion {
        id: new_id(),
        version: number,
        definition,
        status: VersionStatus::Proposed,
        proposed_by: actor.actor(),
        proposed_at: now,
        decided_by: None,
        decided_at: None,
        reason: None,
        effective_from: None,
        effective_until: None,
        approvals: Vec::new(),
        calendar: None,
    }
}

/// Records the proposer's signature when a head of a party proposes.
fn sign_as_proposer(
    conn: &mut DbConn,
    actor: &Principal,
    sla: &Sla,
    version: &SlaVersion,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if let Some((team, user_id, user_email)) = signing_team(actor, &sla.provider, &sla.consumer) {
        store::slas::insert_approval(
            conn,
            &version.id,
            &Approval {
                team,
                user_id,
                user_email,
                at: now,
            },
        )?;
    }
    Ok(())
}

fn load_by_key(conn: &mut DbConn, key: &str) -> Result<Agreement, AppError> {
    let sla = store::slas::find_by_key(conn, key)?.ok_or(AppError::NotFound("sla"))?;
    Ok(store::slas::load(conn, sla)?)
}

/// Reads the SLA for a change: 404 if missing, then its lock, then everything afresh.
fn lock_and_load(conn: &mut DbConn, key: &str, now: DateTime<Utc>) -> Result<Agreement, AppError> {
    let sla = store::slas::find_by_key(conn, key)?.ok_or(AppError::NotFound("sla"))?;
    store::slas::lock(conn, &sla.id, now)?;
    load_by_key(conn, key)
}

fn record(
    conn: &mut DbConn,
    actor: &Principal,
    action: &str,
    before: Option<&Agreement>,
    after: &Agreement,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let before = before.map(Agreement::snapshot);
    super::audit(
        conn,
        actor,
        action,
        ("sla", &after.sla.key),
        (before.as_ref(), Some(&after.snapshot())),
        now,
    )
}

/// Proposes a new SLA: version 1, signed by the proposer's team when a head of a party proposes.
pub fn create(
    conn: &mut DbConn,
    actor: &Principal,
    input: DefinitionInput,
    now: DateTime<Utc>,
    links: &Links,
) -> Result<Agreement, AppError> {
    let key = input
        .key
        .clone()
        .ok_or_else(|| AppError::invalid("key", "is required"))?;
    write_tx(conn, |conn| {
        let (definition, provider, consumer) = check_definition(conn, input, &key)?;
        actor.authorize(Action::ProposeSla {
            provider: &provider.id,
            consumer: &consumer.id,
        })?;
        if store::slas::find_by_key(conn, &key)?.is_some() {
            return Err(AppError::Conflict(format!(
                "an SLA with key {key:?} already exists; revise it with PUT"
            )));
        }
        let sla = Sla {
            id: new_id(),
            key: key.clone(),
            provider,
            consumer,
            status: SlaStatus::Proposed,
            created_by: actor.actor(),
            created_at: now,
            updated_at: now,
        };
        let version = new_version(1, definition, actor, now);
        store::slas::insert(conn, &sla)?;
        store::slas::insert_version(conn, &sla.id, &version)?;
        sign_as_proposer(conn, actor, &sla, &version, now)?;
        let agreement = store::slas::load(conn, sla)?;
        record(conn, actor, "sla.proposed", None, &agreement, now)?;
        if let Some(version) = agreement.pending() {
            tell_heads(conn, &agreement, version, "sla.proposed", links, now)?;
        }
        Ok(agreement)
    })
}

/// Proposes version n+1. The version in force stays in force until the revision is signed;
/// a revision that was awaiting signatures is superseded by this one.
pub fn revise(
    conn: &mut DbConn,
    actor: &Principal,
    key: &str,
    input: DefinitionInput,
    now: DateTime<Utc>,
    links: &Links,
) -> Result<Agreement, AppError> {
    if input.key.as_deref().is_some_and(|k| k != key) {
        return Err(AppError::invalid(
            "key",
            format!("must be {key:?}, the key of the SLA being revised"),
        ));
    }
    write_tx(conn, |conn| {
        let before = lock_and_load(conn, key, now)?;
        let sla = &before.sla;
        actor.authorize(Action::ProposeSla {
            provider: &sla.provider.id,
            consumer: &sla.consumer.id,
        })?;
        if matches!(sla.status, SlaStatus::Retired | SlaStatus::Rejected) {
            return Err(AppError::Conflict(format!(
                "the SLA is {}; propose a new one instead",
                sla.status
            )));
        }
        let (definition, provider, consumer) = check_definition(conn, input, key)?;
        let mut errors = FieldErrors::new();
        if provider.id != sla.provider.id {
            errors.insert(
                "provider".into(),
                format!(
                    "stays {:?} in a revision; parties cannot change",
                    sla.provider.slug
                ),
            );
        }
        if consumer.id != sla.consumer.id {
            errors.insert(
                "consumer".into(),
                format!(
                    "stays {:?} in a revision; parties cannot change",
                    sla.consumer.slug
                ),
            );
        }
        AppError::check(errors)?;
        if let Some(pending) = before.pending() {
            let mut superseded = pending.clone();
            superseded.status = VersionStatus::Superseded;
            superseded.decided_by = Some(actor.actor());
            superseded.decided_at = Some(now);
            store::slas::update_version(conn, &superseded)?;
        }
        let number = before.versions.last().map_or(1, |v| v.version + 1);
        let version = new_version(number, definition, actor, now);
        store::slas::insert_version(conn, &sla.id, &version)?;
        sign_as_proposer(conn, actor, sla, &version, now)?;
        let after = store::slas::load(conn, sla.clone())?;
        record(conn, actor, "sla.revised", Some(&before), &after, now)?;
        if let Some(version) = after.pending() {
            tell_heads(conn, &after, version, "sla.proposed", links, now)?;
        }
        Ok(after)
    })
}

/// The version awaiting signature, checked against the one the caller meant to sign.
fn awaiting(agreement: &Agreement, requested: Option<i32>) -> Result<&SlaVersion, AppError> {
    let pending = agreement.pending();
    match (pending, requested) {
        (Some(pending), None) => Ok(pending),
        (Some(pending), Some(n)) if pending.version == n => Ok(pending),
        (pending, Some(n)) => {
            let state = agreement
                .versions
                .iter()
                .find(|v| v.version == n)
                .map_or("does not exist".to_string(), |v| format!("is {}", v.status));
            let now_pending = pending.map_or(String::new(), |p| {
                format!("; version {} awaits signature", p.version)
            });
            Err(AppError::Conflict(format!(
                "version {n} of {} {state}{now_pending}",
                agreement.sla.key
            )))
        }
        (None, None) => Err(AppError::Conflict(format!(
            "no version of {} awaits signature",
            agreement.sla.key
        ))),
    }
}

/// Signs the version awaiting signature for the caller's team; when both parties have signed it
/// becomes the version in force (a calendar-window revision from the next period on).
pub fn approve(
    conn: &mut DbConn,
    actor: &Principal,
    key: &str,
    requested: Option<i32>,
    now: DateTime<Utc>,
    links: &Links,
) -> Result<Agreement, AppError> {
    write_tx(conn, |conn| {
        let before = lock_and_load(conn, key, now)?;
        let sla = &before.sla;
        actor.authorize(Action::SignSla {
            provider: &sla.provider.id,
            consumer: &sla.consumer.id,
        })?;
        let pending = awaiting(&before, requested)?;
        let (team, user_id, user_email) =
            signing_team(actor, &sla.provider, &sla.consumer).ok_or_else(AppError::forbidden)?;
        if pending.is_signed_by(&team.id) {
            return Err(AppError::Conflict(format!(
                "{} has already approved version {}",
                team.slug, pending.version
            )));
        }
        store::slas::insert_approval(
            conn,
            &pending.id,
            &Approval {
                team,
                user_id,
                user_email,
                at: now,
            },
        )?;
        let signed = store::slas::load(conn, sla.clone())?;
        let pending = awaiting(&signed, Some(pending.version))?;
        let both = pending.is_signed_by(&sla.provider.id) && pending.is_signed_by(&sla.consumer.id);
        if !both {
            record(conn, actor, "sla.approved", Some(&before), &signed, now)?;
            return Ok(signed);
        }
        activate(conn, actor, &signed, pending, now)?;
        let after = load_by_key(conn, key)?;
        record(conn, actor, "sla.activated", Some(&before), &after, now)?;
        if let Some(version) = after.last_signed() {
            tell_heads(conn, &after, version, "sla.activated", links, now)?;
        }
        Ok(after)
    })
}

fn activate(
    conn: &mut DbConn,
    actor: &Principal,
    agreement: &Agreement,
    version: &SlaVersion,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let previous = agreement
        .last_signed()
        .and_then(|p| Some((&p.definition, p.effective_from?)));
    let switch = version.definition.takes_effect(now, previous);
    for old in agreement
        .versions
        .iter()
        .filter(|v| v.effective_from.is_some() && v.effective_until.is_none())
    {
        let mut old = old.clone();
        old.effective_until = Some(switch.old_until.unwrap_or(switch.from));
        old.status = VersionStatus::Superseded;
        old.decided_by = Some(actor.actor());
        old.decided_at = Some(now);
        store::slas::update_version(conn, &old)?;
    }
    let mut version = version.clone();
    version.status = VersionStatus::Active;
    version.effective_from = Some(switch.from);
    version.decided_by = Some(actor.actor());
    version.decided_at = Some(now);
    // The version is judged by its calendar as it is now, whatever later edits say.
    version.calendar = match version.definition.metric.calendar() {
        Some(key) => Some(store::calendars::find(conn, key)?.ok_or_else(|| {
            AppError::Conflict(format!("calendar {key:?} no longer exists; revise the SLA"))
        })?),
        None => None,
    };
    store::slas::update_version(conn, &version)?;
    let mut sla = agreement.sla.clone();
    sla.status = SlaStatus::Active;
    sla.updated_at = now;
    store::slas::update(conn, &sla)?;
    Ok(())
}

/// Refuses the version awaiting signature, with a reason both teams see. A rejected first
/// version rejects the SLA; a rejected revision leaves the version in force as it is.
pub fn reject(
    conn: &mut DbConn,
    actor: &Principal,
    key: &str,
    requested: Option<i32>,
    reason: String,
    now: DateTime<Utc>,
) -> Result<Agreement, AppError> {
    if reason.trim().is_empty() {
        return Err(AppError::invalid(
            "reason",
            "say why, so the other side can revise",
        ));
    }
    write_tx(conn, |conn| {
        let before = lock_and_load(conn, key, now)?;
        let sla = &before.sla;
        actor.authorize(Action::SignSla {
            provider: &sla.provider.id,
            consumer: &sla.consumer.id,
        })?;
        let mut version = awaiting(&before, requested)?.clone();
        version.status = VersionStatus::Rejected;
        version.reason = Some(reason.trim().to_string());
        version.decided_by = Some(actor.actor());
        version.decided_at = Some(now);
        store::slas::update_version(conn, &version)?;
        if before.last_signed().is_none() {
            let mut sla = sla.clone();
            sla.status = SlaStatus::Rejected;
            sla.updated_at = now;
            store::slas::update(conn, &sla)?;
        }
        let after = load_by_key(conn, key)?;
        record(conn, actor, "sla.rejected", Some(&before), &after, now)?;
        Ok(after)
    })
}

/// Ends the SLA now: the version in force stops governing, a pending proposal is dropped.
pub fn retire(
    conn: &mut DbConn,
    actor: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Agreement, AppError> {
    write_tx(conn, |conn| {
        let before = lock_and_load(conn, key, now)?;
        let sla = &before.sla;
        actor.authorize(Action::RetireSla {
            provider: &sla.provider.id,
            consumer: &sla.consumer.id,
        })?;
        if sla.status == SlaStatus::Retired {
            return Err(AppError::Conflict(format!("{key} is already retired")));
        }
        for version in &before.versions {
            let mut version = version.clone();
            match (
                version.status,
                version.effective_from,
                version.effective_until,
            ) {
                (VersionStatus::Proposed, ..) => version.status = VersionStatus::Superseded,
                (_, Some(from), None) => {
                    version.status = VersionStatus::Retired;
                    version.effective_until = Some(from.max(now));
                }
                _ => continue,
            }
            version.decided_by = Some(actor.actor());
            version.decided_at = Some(now);
            store::slas::update_version(conn, &version)?;
        }
        let mut retired = sla.clone();
        retired.status = SlaStatus::Retired;
        retired.updated_at = now;
        store::slas::update(conn, &retired)?;
        let after = store::slas::load(conn, retired)?;
        record(conn, actor, "sla.retired", Some(&before), &after, now)?;
        Ok(after)
    })
}

/// One SLA with its versions.
pub fn get(conn: &mut DbConn, actor: &Principal, key: &str) -> Result<Agreement, AppError> {
    actor.authorize(Action::ReadSlas)?;
    load_by_key(conn, key)
}

/// What a list of SLAs is narrowed to, as the client wrote it.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// Only SLAs in this status.
    pub status: Option<SlaStatus>,
    /// Only SLAs where this team (slug) is a party.
    pub team: Option<String>,
}

/// SLAs in key order.
pub fn list(
    conn: &mut DbConn,
    actor: &Principal,
    filter: ListFilter,
    page: &PageRequest,
) -> Result<Page<Agreement>, AppError> {
    actor.authorize(Action::ReadSlas)?;
    let team_id = match filter.team.as_deref() {
        Some(slug) => Some(
            team_ref(conn, slug)?
                .ok_or_else(|| AppError::invalid("team", format!("no team with slug {slug:?}")))?
                .id,
        ),
        None => None,
    };
    let store_filter = SlaFilter {
        status: filter.status,
        team_id,
    };
    let slas = store::slas::list(
        conn,
        &store_filter,
        page.after.as_deref(),
        page.fetch_limit(),
    )?;
    let page = page.finish(slas, |sla| sla.key.clone());
    let items = page
        .items
        .into_iter()
        .map(|sla| store::slas::load(conn, sla))
        .collect::<Result<_, _>>()?;
    Ok(Page {
        items,
        next_after: page.next_after,
    })
}

/// Tells the heads concerned about a version: who must still sign a proposal, or both sides
/// that it is in force. Enqueued in the caller's transaction.
fn tell_heads(
    conn: &mut DbConn,
    agreement: &Agreement,
    version: &SlaVersion,
    kind: &'static str,
    links: &Links,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let sla = &agreement.sla;
    let teams: Vec<&TeamRef> = [&sla.provider, &sla.consumer]
        .into_iter()
        .filter(|team| kind == "sla.activated" || !version.is_signed_by(&team.id))
        .collect();
    let mut emails = Vec::new();
    for team in teams {
        emails.extend(
            store::users::head_emails(conn, &team.id)?
                .into_iter()
                .map(|email| (email, Some(team.id.clone()))),
        );
    }
    let definition = &version.definition;
    let from = version.effective_from.map_or_else(
        || {
            definition
                .effective_from
                .map_or("the period it is signed in".to_string(), |d| {
                    format!("the period of {}", d.format("%a %-d %b %Y"))
                })
        },
        |at| at.format("%a %-d %b %Y, %H:%M UTC").to_string(),
    );
    let objective = crate::domain::present::reading(
        definition,
        None,
        definition.objective.op,
        definition.objective.target,
        &serde_json::Value::Null,
    );
    let facts = crate::domain::message::MessageFacts {
        kind,
        sla_key: sla.key.clone(),
        sla_name: definition.name.clone(),
        provider: sla.provider.slug.clone(),
        consumer: sla.consumer.slug.clone(),
        promise: crate::domain::present::definition_in_words(definition),
        period: crate::domain::present::PeriodName {
            label: format!("from {from}"),
            dates: from.clone(),
            zone: "UTC".into(),
            code: version.effective_from.map_or_else(
                || format!("v{}", version.version),
                |at| at.format("%Y-%m-%dT%H:%MZ").to_string(),
            ),
        },
        reading: crate::domain::present::Reading {
            value: "not measured yet".into(),
            sentence: "not measured yet".into(),
            target: objective.target,
            met: None,
        },
        version: version.version,
        breach_id: None,
        evidence: Default::default(),
        links: crate::domain::message::MessageLinks {
            sla: links.sla(&sla.key),
            breach: None,
            board: links.board(),
        },
        extra: None,
    };
    crate::service::notify::to_people(
        conn,
        &facts,
        &emails,
        &format!("{kind}:{}", version.id),
        now,
    )?;
    Ok(())
}
