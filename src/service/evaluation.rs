//! Evaluating SLAs: which windows to judge, measuring them in the database, storing the result.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::auth::Principal;
use crate::auth::policy::Action;
use crate::clock::Clock;
use crate::domain::agreement::{Agreement, Sla, SlaVersion};
use crate::domain::calendar::{Calendar, Hours};
use crate::domain::duration::Span;
use crate::domain::evaluation::{Evaluation, Judged, Measurement, evaluate};
use crate::domain::period::Period;
use crate::domain::sla::{Definition, Metric, Selector, SlaStatus, Window};
use crate::error::AppError;
use crate::service::breaches::{self, Links};
use crate::service::notify;
use crate::store::{self, DbConn, write_tx};

/// The spans that govern evaluation (`ACCORD_GRACE`, `ACCORD_STALE_AFTER`).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// How long after its end a period may still be restated by late events.
    pub grace: Span,
    /// How long without new input events before an SLA's data counts as stale.
    pub stale_after: Span,
    /// How often open, unacknowledged breaches are reminded; `None`: never.
    pub remind_every: Option<Span>,
}

/// Most periods judged in one go (a decade of days); a backfill beyond continues next cycle.
const MAX_WINDOWS: usize = 4000;

/// A window to judge, with the version that governs it.
struct Judging<'a> {
    judged: Judged,
    version: &'a SlaVersion,
    /// The window ended before its version was signed (a backfill of history).
    historical: bool,
}

/// The windows of an agreement to judge at `now`: for calendar windows every period from the
/// first one not yet final to the current one; for a rolling window the last `length`.
///
/// A calendar period is judged only by a version that governs all of it: a revision switches at
/// period boundaries, and the period cut short by a retirement is not judged at all.
fn windows(
    agreement: &Agreement,
    now: DateTime<Utc>,
    settled_until: Option<DateTime<Utc>>,
) -> Vec<Judging<'_>> {
    let mut found = Vec::new();
    for version in agreement
        .versions
        .iter()
        .filter(|v| v.effective_from.is_some())
    {
        let (Some(from), until) = (version.effective_from, version.effective_until) else {
            continue;
        };
        match &version.definition.window {
            Window::Rolling { length } => {
                if version.governs(now) {
                    found.push(Judging {
                        judged: Judged {
                            start: now - length.as_delta(),
                            end: now,
                            rolling: true,
                        },
                        version,
                        historical: false,
                    });
                }
            }
            Window::Calendar { period, timezone } => {
                let limit = until.map_or(now, |u| u.min(now));
                let begin = settled_until.map_or(from, |s| s.max(from));
                let mut p = Period::containing(*period, *timezone, begin);
                let signed_at = version.signed_at();
                while p.start < limit && found.len() < MAX_WINDOWS {
                    if p.start >= from && until.is_none_or(|until| p.end <= until) {
                        found.push(Judging {
                            judged: Judged {
                                start: p.start,
                                end: p.end,
                                rolling: false,
                            },
                            version,
                            historical: signed_at.is_some_and(|signed| p.end <= signed),
                        });
                    }
                    p = p.next(*period, *timezone);
                }
            }
        }
    }
    found
}

fn selectors(metric: &Metric) -> Vec<&Selector> {
    match metric {
        Metric::Count { .. } => Vec::new(),
        Metric::ResponseTime {
            start,
            stop,
            pause,
            resume,
            ..
        } => [Some(start), Some(stop), pause.as_ref(), resume.as_ref()]
            .into_iter()
            .flatten()
            .collect(),
        Metric::Ratio {
            numerator,
            denominator,
        } => vec![numerator, denominator],
    }
}

/// Measures one window in the database. `as_of` limits what is seen to what had arrived then.
pub fn measure(
    conn: &mut DbConn,
    definition: &Definition,
    judged: Judged,
    now: DateTime<Utc>,
    as_of: Option<DateTime<Utc>>,
) -> Result<Measurement, AppError> {
    Ok(match &definition.metric {
        Metric::Count { event, filter } => {
            let selector = Selector {
                event: event.clone(),
                filter: filter.clone(),
            };
            Measurement::Count(store::measure::count(
                conn,
                &selector,
                judged.start,
                judged.end,
                as_of,
            )?)
        }
        Metric::Ratio {
            numerator,
            denominator,
        } => Measurement::Ratio {
            numerator: store::measure::count(conn, numerator, judged.start, judged.end, as_of)?,
            denominator: store::measure::count(conn, denominator, judged.start, judged.end, as_of)?,
        },
        Metric::ResponseTime {
            start,
            stop,
            pause,
            resume,
            ..
        } => Measurement::ResponseTime(store::measure::starts(
            conn,
            start,
            stop,
            pause.as_ref().zip(resume.as_ref()),
            judged.start,
            judged.end,
            now,
            as_of,
        )?),
    })
}

/// The business-hours calendar a definition names, if any, as it is now (for definitions not
/// signed yet: simulations).
pub fn calendar_of(
    conn: &mut DbConn,
    definition: &Definition,
) -> Result<Option<Calendar>, AppError> {
    match definition.metric.calendar() {
        Some(key) => Ok(Some(
            store::calendars::find(conn, key)?.ok_or(AppError::NotFound("calendar"))?,
        )),
        None => Ok(None),
    }
}

/// The calendar a signed version is judged by: the one kept with it when it was signed (only
/// versions signed before calendars were kept read the calendar as it is now).
pub fn calendar_of_version(
    conn: &mut DbConn,
    version: &SlaVersion,
) -> Result<Option<Calendar>, AppError> {
    match (&version.calendar, version.definition.metric.calendar()) {
        (Some(kept), _) => Ok(Some(kept.clone())),
        (None, Some(_)) => calendar_of(conn, &version.definition),
        (None, None) => Ok(None),
    }
}

/// The kinds of event a definition reads.
pub fn input_kinds(definition: &Definition) -> Vec<&str> {
    let mut kinds: Vec<&str> = match &definition.metric {
        Metric::Count { event, .. } => vec![event.as_str()],
        other => selectors(other)
            .into_iter()
            .map(|s| s.event.as_str())
            .collect(),
    };
    kinds.sort_unstable();
    kinds.dedup();
    kinds
}

/// When and how a judgement is made.
#[derive(Clone, Copy, Debug)]
pub struct Occasion {
    /// The instant judged at.
    pub now: DateTime<Utc>,
    /// `Some(now)` to see only the events that had arrived by then (past instants).
    pub as_of: Option<DateTime<Utc>>,
    /// Grace and staleness spans.
    pub settings: Settings,
    /// Whether the SLA's input has gone quiet.
    pub stale: bool,
}

/// Judges `definition` over `judged`, counting time in `hours` (its calendar's, loaded once by
/// the caller for all the windows of a version).
pub fn judge(
    conn: &mut DbConn,
    key: &str,
    version: i32,
    definition: &Definition,
    hours: Hours<'_>,
    judged: Judged,
    occasion: Occasion,
) -> Result<Evaluation, AppError> {
    let Occasion {
        now,
        as_of,
        settings,
        stale,
    } = occasion;
    let measurement = measure(conn, definition, judged, now, as_of)?;
    let outcome = evaluate(definition, hours, judged, &measurement, now);
    let open = judged.rolling || now < judged.end;
    Ok(Evaluation {
        sla: key.to_string(),
        version,
        period_start: judged.start,
        period_end: judged.end,
        is_final: !judged.rolling && now >= judged.end + settings.grace.as_delta(),
        value: outcome.value,
        target: definition.objective.target,
        op: definition.objective.op,
        status: outcome.status,
        data_stale: open && stale,
        details: outcome.details,
        evaluated_at: now,
    })
}

/// Whether no input of the agreement's current definition has arrived for `stale_after`.
fn is_stale(
    conn: &mut DbConn,
    agreement: &Agreement,
    now: DateTime<Utc>,
    as_of: Option<DateTime<Utc>>,
    settings: Settings,
) -> Result<bool, AppError> {
    // Only an agreement in force has a feed to watch.
    if agreement.sla.status != SlaStatus::Active {
        return Ok(false);
    }
    let Some(version) = agreement.current(now) else {
        return Ok(false);
    };
    let last = store::measure::last_arrival(conn, &input_kinds(&version.definition), as_of)?;
    let since = last.or(version.decided_at).unwrap_or(now);
    Ok(now - since > settings.stale_after.as_delta())
}

/// Judges every window of an agreement that is not final yet, as of `now`, without storing.
pub fn judge_agreement(
    conn: &mut DbConn,
    agreement: &Agreement,
    now: DateTime<Utc>,
    as_of: Option<DateTime<Utc>>,
    settings: Settings,
) -> Result<Vec<Evaluation>, AppError> {
    Ok(judge_windows(conn, agreement, now, as_of, settings)?
        .0
        .into_iter()
        .map(|(evaluation, _)| evaluation)
        .collect())
}

/// Each window's evaluation with whether it is historical, and whether the input is stale.
type Judgements = (Vec<(Evaluation, bool)>, bool);

fn judge_windows(
    conn: &mut DbConn,
    agreement: &Agreement,
    now: DateTime<Utc>,
    as_of: Option<DateTime<Utc>>,
    settings: Settings,
) -> Result<Judgements, AppError> {
    let settled = store::evaluations::settled_until(conn, &agreement.sla.id)?;
    let settled = settled.filter(|_| as_of.is_none());
    let stale = is_stale(conn, agreement, now, as_of, settings)?;
    let occasion = Occasion {
        now,
        as_of,
        settings,
        stale,
    };
    let mut results = Vec::new();
    let mut calendar: Option<(i32, Option<Calendar>)> = None;
    for window in windows(agreement, now, settled) {
        let v = window.version;
        // Windows come version by version: each version's calendar is read once.
        if calendar
            .as_ref()
            .is_none_or(|(version, _)| *version != v.version)
        {
            calendar = Some((v.version, calendar_of_version(conn, v)?));
        }
        let hours = calendar
            .as_ref()
            .and_then(|(_, c)| c.as_ref())
            .map_or(Hours::Always, Hours::Business);
        let evaluation = judge(
            conn,
            &agreement.sla.key,
            v.version,
            &v.definition,
            hours,
            window.judged,
            occasion,
        )?;
        results.push((evaluation, window.historical));
    }
    Ok((results, stale))
}

/// A scheduler's claim on one SLA's evaluation, checked again just before writing.
#[derive(Clone, Copy)]
pub struct Claim<'a> {
    /// The replica holding it.
    pub owner: &'a str,
    /// Read when checking, not when the cycle started.
    pub clock: &'a dyn Clock,
    /// When the SLA is next due, set as the claim ends with the results written.
    pub next_due: DateTime<Utc>,
}

/// Judges an agreement at `now` and stores what changed; returns the evaluations written. With a
/// `claim`, writes nothing unless the claim still holds when the writing starts, and ends the
/// claim (clearing a recorded failure) in the transaction that writes.
pub fn evaluate_and_store(
    conn: &mut DbConn,
    agreement: &Agreement,
    now: DateTime<Utc>,
    settings: Settings,
    links: &Links,
    claim: Option<Claim<'_>>,
) -> Result<Vec<Evaluation>, AppError> {
    let (results, stale) = judge_windows(conn, agreement, now, None, settings)?;
    let sla_id = agreement.sla.id.clone();
    write_tx(conn, |conn| {
        // Another evaluation of this SLA (a replica, a request) writes before or after, never
        // between: both statements below lock the SLA's row.
        match claim {
            Some(claim) => {
                // A long cycle can outlive its lease: another replica may have claimed the SLA
                // since. Otherwise the claim ends here, committed with the results.
                let now = claim.clock.now();
                if !store::slas::finish_claim(conn, &sla_id, claim.owner, now, claim.next_due)? {
                    tracing::warn!(sla.key = %agreement.sla.key, "evaluation claim lapsed before writing; left to the replica that holds it");
                    store::slas::lock_unchanged(conn, &sla_id)?;
                    return Ok(Vec::new());
                }
            }
            None => store::slas::lock_unchanged(conn, &sla_id)?,
        }
        // Judged before the lock: an evaluation judged later that committed meanwhile (another
        // replica, a request) is newer, and this one must not write over it.
        if store::evaluations::last_evaluated_at(conn, &sla_id)?.is_some_and(|last| last > now) {
            return Ok(Vec::new());
        }
        let mut written = Vec::new();
        let mut backfilled = Vec::new();
        for (evaluation, historical) in results {
            let rolling = is_rolling(agreement, evaluation.version);
            let previous = if rolling {
                store::evaluations::latest(conn, &sla_id, &agreement.sla.key)?
            } else {
                store::evaluations::find(
                    conn,
                    &sla_id,
                    &agreement.sla.key,
                    evaluation.period_start,
                )?
            };
            if rolling && let Some(last) = previous.clone().filter(|last| !last.is_final) {
                // A rolling window is one row per episode: the same status moves the row along,
                // another status closes the episode and starts the next.
                if last.status == evaluation.status {
                    store::evaluations::move_start(
                        conn,
                        &sla_id,
                        last.period_start,
                        evaluation.period_start,
                    )?;
                } else {
                    store::evaluations::save(
                        conn,
                        &sla_id,
                        &Evaluation {
                            is_final: true,
                            ..last
                        },
                    )?;
                }
            }
            if store::evaluations::save(conn, &sla_id, &evaluation)? {
                // Breaches and messages follow in the same transaction as the evaluation.
                breaches::follow(
                    conn,
                    agreement,
                    previous.as_ref(),
                    &evaluation,
                    historical,
                    links,
                    now,
                )?;
                if historical {
                    backfilled.push(evaluation.clone());
                }
                written.push(evaluation);
            }
        }
        breaches::announce_backfill(conn, agreement, &backfilled, links, now)?;
        follow_staleness(conn, agreement, stale, links, now)?;
        Ok(written)
    })
}

/// Opens or closes the SLA's stale episode: both teams hear once when the input goes quiet and
/// once when it comes back, however many periods the silence spans.
fn follow_staleness(
    conn: &mut DbConn,
    agreement: &Agreement,
    stale: bool,
    links: &Links,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let sla_id = &agreement.sla.id;
    let since = store::slas::stale_since(conn, sla_id)?;
    if agreement.sla.status != SlaStatus::Active {
        // A retired SLA's feed is nobody's concern any more: the episode ends without a word.
        if since.is_some() {
            store::slas::set_stale_since(conn, sla_id, None)?;
        }
        return Ok(());
    }
    match (stale, since) {
        (true, None) => {
            store::slas::set_stale_since(conn, sla_id, Some(now))?;
            breaches::announce_feed(conn, agreement, "sla.data_stale", now, links, now)
        }
        (false, Some(since)) => {
            store::slas::set_stale_since(conn, sla_id, None)?;
            breaches::announce_feed(conn, agreement, "sla.data_resumed", since, links, now)
        }
        _ => Ok(()),
    }
}

fn is_rolling(agreement: &Agreement, version: i32) -> bool {
    agreement
        .versions
        .iter()
        .any(|v| v.version == version && matches!(v.definition.window, Window::Rolling { .. }))
}

/// `POST /slas/{key}/evaluate`: evaluates one SLA now.
pub fn evaluate_now(
    conn: &mut DbConn,
    actor: &Principal,
    key: &str,
    now: DateTime<Utc>,
    settings: Settings,
    links: &Links,
) -> Result<Vec<Evaluation>, AppError> {
    let sla = store::slas::find_by_key(conn, key)?.ok_or(AppError::NotFound("sla"))?;
    actor.authorize(Action::EvaluateSla {
        provider: &sla.provider.id,
        consumer: &sla.consumer.id,
    })?;
    let agreement = store::slas::load(conn, sla)?;
    if agreement.last_signed().is_none() {
        return Err(AppError::Conflict(format!(
            "{key} has no signed version to evaluate"
        )));
    }
    let written = evaluate_and_store(conn, &agreement, now, settings, links, None)?;
    // The breaches this evaluation found go out now, one message per team.
    notify::release(conn, links, now)?;
    Ok(written)
}

/// What one scheduler cycle did.
#[derive(Clone, Debug, Default)]
pub struct CycleReport {
    /// SLAs evaluated.
    pub slas: usize,
    /// Evaluations written.
    pub written: Vec<Evaluation>,
    /// Breaches reminded.
    pub reminders: usize,
    /// SLAs whose evaluation failed, by key, with the reason.
    pub failed: Vec<(String, String)>,
}

/// How the scheduler of one replica shares the SLAs with the others: it evaluates an SLA only
/// after claiming it in the database, and the SLA is next due `every` later, for whichever
/// replica comes first.
#[derive(Clone)]
pub struct Share {
    /// This replica's name in claims (host, process and a random part).
    pub owner: String,
    /// How long a claim lasts; a replica that dies holding one delays that SLA by at most this.
    pub lease: Duration,
    /// How often each SLA is evaluated (`ACCORD_EVAL_INTERVAL`).
    pub every: Duration,
    /// Read at each claim: a cycle over many SLAs takes time, and a claim dated from its start
    /// would lapse early or look live when it is not.
    pub clock: Arc<dyn Clock>,
}

/// SLAs evaluated at once on PostgreSQL when the caller lends the pool to [`run_cycle_with`]:
/// an idle cycle is mostly round trips to the server, which overlap, while SQLite has one writer
/// at a time and evaluates one SLA after another.
const PARALLEL_EVALUATIONS: usize = 4;

/// Evaluates every active SLA (and retired ones with periods still open to restatement) at `now`:
/// all of them, or with a [`Share`] those due that this replica claims, each at the instant it
/// is claimed. Each SLA is evaluated on its own: one that fails is recorded as failing (its
/// status reads `error`; the admins hear once per episode) and the cycle goes on.
pub fn run_cycle(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    settings: Settings,
    links: &Links,
    share: Option<&Share>,
) -> Result<CycleReport, AppError> {
    run_cycle_with(conn, None, now, settings, links, share)
}

/// [`run_cycle`], with `pool` lent for evaluating several SLAs at once on PostgreSQL (each on a
/// connection of its own; see [`PARALLEL_EVALUATIONS`]). The report is the same, in key order.
pub fn run_cycle_with(
    conn: &mut DbConn,
    pool: Option<&store::Db>,
    now: DateTime<Utc>,
    settings: Settings,
    links: &Links,
    share: Option<&Share>,
) -> Result<CycleReport, AppError> {
    let pool = pool.filter(|db| db.backend() == store::Backend::Postgres);
    let mut report = CycleReport::default();
    for status in [SlaStatus::Active, SlaStatus::Retired] {
        let filter = store::slas::SlaFilter {
            status: Some(status),
            team_id: None,
        };
        let mut after: Option<String> = None;
        loop {
            let page = store::slas::list(conn, &filter, after.as_deref(), 200)?;
            let Some(last) = page.last() else { break };
            after = Some(last.key.clone());
            let outcomes = match pool {
                Some(db) if page.len() > 1 => in_parallel(conn, db, &page, |conn, sla| {
                    evaluate_due(conn, sla, now, settings, links, share)
                })?,
                _ => page
                    .iter()
                    .map(|sla| evaluate_due(conn, sla, now, settings, links, share))
                    .collect::<Result<Vec<_>, _>>()?,
            };
            for outcome in outcomes {
                match outcome {
                    Due::NotClaimed => {}
                    Due::Written(written) => {
                        report.slas += 1;
                        report.written.extend(written);
                    }
                    Due::Failed(key, reason) => {
                        report.slas += 1;
                        report.failed.push((key, reason));
                    }
                }
            }
        }
    }
    if let Some(every) = settings.remind_every {
        report.reminders = breaches::remind(conn, every, links, now)?;
    }
    // The breaches of this cycle, one message per team, and the digests that are due.
    notify::release(conn, links, now)?;
    Ok(report)
}

/// What became of one SLA in a cycle.
enum Due {
    /// Another replica holds it.
    NotClaimed,
    /// Evaluated; these evaluations were written.
    Written(Vec<Evaluation>),
    /// Its evaluation failed for this reason (recorded with the SLA).
    Failed(String, String),
}

/// Claims (with a [`Share`]), evaluates and releases one SLA. An error is the database failing
/// around the evaluation; a failing evaluation is [`Due::Failed`].
fn evaluate_due(
    conn: &mut DbConn,
    sla: &Sla,
    now: DateTime<Utc>,
    settings: Settings,
    links: &Links,
    share: Option<&Share>,
) -> Result<Due, AppError> {
    let at = share.map_or(now, |share| share.clock.now());
    if let Some(share) = share
        && !store::slas::claim_evaluation(conn, &sla.id, &share.owner, at, share.lease)?
    {
        return Ok(Due::NotClaimed);
    }
    // Due a tenth early: the next tick reads a clock a little earlier or later in its second,
    // and an SLA due a hair after it would wait a whole interval.
    let claim = share.map(|share| Claim {
        owner: &share.owner,
        clock: share.clock.as_ref(),
        next_due: at + share.every - share.every / 10,
    });
    let evaluated = store::slas::load(conn, sla.clone())
        .map_err(AppError::from)
        .and_then(|agreement| evaluate_and_store(conn, &agreement, at, settings, links, claim));
    // A written evaluation ended the claim in its transaction; a failed one ends it here.
    if let (Some(claim), Err(_)) = (&claim, &evaluated) {
        store::slas::release_evaluation(conn, &sla.id, claim.owner, claim.next_due)?;
    }
    match evaluated {
        Ok(written) => {
            if claim.is_none() {
                store::slas::clear_evaluation_error(conn, &sla.id)?;
            }
            Ok(Due::Written(written))
        }
        Err(error) => {
            let reason = failure_reason(&error);
            tracing::error!(sla.key = %sla.key, error = %reason, "evaluating an SLA failed; the cycle goes on");
            if let Err(error) = record_failure(conn, sla, &reason, links, at) {
                tracing::error!(sla.key = %sla.key, error = %error, "recording a failed evaluation failed");
            }
            Ok(Due::Failed(sla.key.clone(), reason))
        }
    }
}

/// `work` on every SLA of `slas`, up to [`PARALLEL_EVALUATIONS`] at a time: on `conn` and on
/// connections from `db`, each worker inside the caller's span. A worker that gets no connection
/// from the pool leaves the SLAs to the others (the caller's connection always works); the
/// results come in the order of `slas`, stopping at the first error.
fn in_parallel<T: Send>(
    conn: &mut DbConn,
    db: &store::Db,
    slas: &[Sla],
    work: impl Fn(&mut DbConn, &Sla) -> Result<T, AppError> + Sync,
) -> Result<Vec<T>, AppError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let span = tracing::Span::current();
    let run = |conn: &mut DbConn| {
        span.in_scope(|| {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(sla) = slas.get(i) else { break };
                done.push((i, work(conn, sla)));
            }
            done
        })
    };
    let mut done = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..PARALLEL_EVALUATIONS.min(slas.len()))
            .map(|_| {
                scope.spawn(|| match db.get() {
                    Ok(mut pooled) => run(&mut pooled),
                    Err(error) => {
                        tracing::warn!(%error, "no pooled connection for a parallel evaluation; the others go on");
                        Vec::new()
                    }
                })
            })
            .collect();
        let mut done = run(conn);
        for helper in helpers {
            done.extend(helper.join().expect("an evaluation worker panicked"));
        }
        done
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, result)| result).collect()
}

/// Longest reason kept with a failing SLA.
const MAX_REASON: usize = 500;

fn failure_reason(error: &AppError) -> String {
    let reason = error.to_string();
    match reason.char_indices().nth(MAX_REASON) {
        Some((cut, _)) => format!("{}…", &reason[..cut]),
        None => reason,
    }
}

/// Marks the SLA as failing; the first failure of an episode tells the admins.
fn record_failure(
    conn: &mut DbConn,
    sla: &Sla,
    reason: &str,
    links: &Links,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    write_tx(conn, |conn| {
        if let Some(since) = store::slas::record_evaluation_error(conn, &sla.id, reason, now)? {
            notify::evaluation_failed(conn, sla, reason, since, links, now)?;
        }
        Ok(())
    })
}

/// What the scheduler would have computed at `at`, from the events that had arrived by then;
/// stores nothing.
pub fn as_of(
    conn: &mut DbConn,
    at: DateTime<Utc>,
    settings: Settings,
) -> Result<Vec<Evaluation>, AppError> {
    let mut results = Vec::new();
    let filter = store::slas::SlaFilter::default();
    for sla in store::slas::list(conn, &filter, None, i64::MAX)? {
        let agreement = store::slas::load(conn, sla)?;
        results.extend(judge_agreement(conn, &agreement, at, Some(at), settings)?);
    }
    Ok(results)
}

/// Evaluates a definition over `[from, to)` period by period (rolling windows: one window ending
/// each day), as of `now`, storing nothing.
pub fn simulate(
    conn: &mut DbConn,
    definition: &Definition,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    settings: Settings,
) -> Result<Vec<Evaluation>, AppError> {
    let calendar = calendar_of(conn, definition)?;
    simulate_with(conn, definition, calendar, (from, to), now, settings)
}

/// [`simulate`] with the calendar to count business time in (a signed version's kept one).
fn simulate_with(
    conn: &mut DbConn,
    definition: &Definition,
    calendar: Option<Calendar>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
    settings: Settings,
) -> Result<Vec<Evaluation>, AppError> {
    let to = to.min(now);
    let mut windows = Vec::new();
    match &definition.window {
        Window::Calendar { period, timezone } => {
            let mut p = Period::containing(*period, *timezone, from);
            while p.start < to && windows.len() < MAX_WINDOWS {
                windows.push(Judged {
                    start: p.start,
                    end: p.end,
                    rolling: false,
                });
                p = p.next(*period, *timezone);
            }
        }
        Window::Rolling { length } => {
            let mut end = from + length.as_delta();
            while end <= to && windows.len() < MAX_WINDOWS {
                windows.push(Judged {
                    start: end - length.as_delta(),
                    end,
                    rolling: true,
                });
                end += Duration::days(1);
            }
        }
    }
    let hours = calendar.as_ref().map_or(Hours::Always, Hours::Business);
    let occasion = Occasion {
        now,
        as_of: None,
        settings,
        stale: false,
    };
    windows
        .into_iter()
        .map(|judged| {
            judge(
                conn,
                &definition.key,
                0,
                definition,
                hours,
                judged,
                occasion,
            )
        })
        .collect()
}

/// The unanswered items of a response-time SLA that are overdue now (oldest first) or due soon.
pub fn violations(
    conn: &mut DbConn,
    actor: &Principal,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Vec<crate::domain::evaluation::OpenItem>, AppError> {
    actor.authorize(Action::ReadSlas)?;
    let sla = store::slas::find_by_key(conn, key)?.ok_or(AppError::NotFound("sla"))?;
    let agreement = store::slas::load(conn, sla)?;
    if !agreement
        .current(now)
        .is_some_and(|v| matches!(v.definition.metric, Metric::ResponseTime { .. }))
    {
        return Err(AppError::Conflict(format!(
            "{key} is not a response_time SLA; only those have overdue items"
        )));
    }
    let settled = store::evaluations::settled_until(conn, &agreement.sla.id)?;
    let mut items = Vec::new();
    for window in windows(&agreement, now, settled) {
        let definition = &window.version.definition;
        let Metric::ResponseTime { threshold, .. } = &definition.metric else {
            continue;
        };
        let calendar = calendar_of_version(conn, window.version)?;
        let hours = calendar.as_ref().map_or(Hours::Always, Hours::Business);
        if let Measurement::ResponseTime(starts) =
            measure(conn, definition, window.judged, now, None)?
        {
            items.extend(starts.iter().filter_map(|s| {
                crate::domain::evaluation::open_item(s, threshold.as_secs(), hours, now)
            }));
        }
    }
    items.sort_by(|a, b| {
        b.overdue
            .cmp(&a.overdue)
            .then(a.due_at.cmp(&b.due_at))
            .then(a.started_at.cmp(&b.started_at))
    });
    Ok(items)
}

/// The stored history of an SLA, by period start.
pub fn history(
    conn: &mut DbConn,
    actor: &Principal,
    key: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    page: &crate::service::PageRequest,
) -> Result<crate::service::Page<Evaluation>, AppError> {
    actor.authorize(Action::ReadSlas)?;
    store::slas::find_by_key(conn, key)?.ok_or(AppError::NotFound("sla"))?;
    let after = match page.after.as_deref() {
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_micros)
                .ok_or_else(|| AppError::BadRequest("cursor is not valid".into()))?,
        ),
        None => None,
    };
    let found = store::evaluations::list(conn, key, from, to, after, page.fetch_limit())?;
    Ok(page.finish(found, |e| e.period_start.timestamp_micros().to_string()))
}

/// `POST /slas/simulate`: resolves the definition (a stored SLA's, or one given) and simulates it.
#[expect(
    clippy::too_many_arguments,
    reason = "the request's parts and the instance's settings"
)]
pub fn simulate_request(
    conn: &mut DbConn,
    actor: &Principal,
    sla: Option<String>,
    input: Option<crate::domain::sla::DefinitionInput>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    settings: Settings,
) -> Result<Vec<Evaluation>, AppError> {
    actor.authorize(Action::SimulateSla)?;
    if to <= from {
        return Err(AppError::invalid("to", "must come after from"));
    }
    if to - from > MAX_SIMULATED_RANGE {
        return Err(AppError::invalid(
            "to",
            format!(
                "a simulation covers at most {} days; narrow from and to",
                MAX_SIMULATED_RANGE.num_days()
            ),
        ));
    }
    let (definition, calendar) = match (sla, input) {
        (Some(key), None) => {
            let sla = store::slas::find_by_key(conn, &key)?.ok_or(AppError::NotFound("sla"))?;
            let agreement = store::slas::load(conn, sla)?;
            let version = agreement
                .pending()
                .or_else(|| agreement.current(now))
                .ok_or(AppError::NotFound("sla version"))?;
            // A signed version counts business time as it was signed; a proposal as it is now.
            let calendar = calendar_of_version(conn, version)?;
            (version.definition.clone(), calendar)
        }
        (None, Some(input)) => {
            let key = input.key.clone().unwrap_or_else(|| "simulation".into());
            let definition = crate::service::slas::check_definition(conn, input, &key)?.0;
            let calendar = calendar_of(conn, &definition)?;
            (definition, calendar)
        }
        _ => {
            return Err(AppError::invalid(
                "definition",
                "give either sla (a stored key) or definition, not both",
            ));
        }
    };
    simulate_with(conn, &definition, calendar, (from, to), now, settings)
}

/// The longest range `POST /slas/simulate` takes. Its cost grows with the events in the range and
/// the windows judged; windows are at least a day apart, so this also bounds them to about 1,100.
pub const MAX_SIMULATED_RANGE: Duration = Duration::days(3 * 366);
