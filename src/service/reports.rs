//! What bots and heads read at a glance: the status board and compliance reports.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::Principal;
use crate::auth::policy::Action;
use crate::domain::evaluation::{Evaluation, Status};
use crate::domain::present::{self, PeriodName, Reading};
use crate::domain::sla::Metric;
use crate::error::AppError;
use crate::store::slas::SlaFilter;
use crate::store::{self, DbConn};

/// One active SLA's current period, as the last evaluation cycle found it.
#[derive(Clone, Debug)]
pub struct StatusLine {
    /// The SLA's key.
    pub sla: String,
    /// Its name.
    pub name: String,
    /// Provider team slug.
    pub provider: String,
    /// Consumer team slug.
    pub consumer: String,
    /// The current period (null before the first evaluation).
    pub evaluation: Option<Evaluation>,
    /// Target and comparison of the version in force.
    pub target: f64,
    /// The comparison.
    pub op: &'static str,
    /// For response-time SLAs: items overdue now in the current period.
    pub overdue: Option<u64>,
    /// The current period as people name it (`2026-W48`, `2026-11`), in the SLA's time zone.
    pub period: Option<String>,
    /// Why the SLA's last scheduled evaluation failed, while it keeps failing.
    pub error: Option<String>,
    /// The current period in words (null before the first evaluation).
    pub period_name: Option<PeriodName>,
    /// The current period's value in words, against the target.
    pub reading: Option<Reading>,
}

impl StatusLine {
    /// The status to show: `error` while evaluations fail, else the current period's, else `default`.
    pub fn status_or<'a>(&'a self, default: &'a str) -> &'a str {
        match (&self.error, &self.evaluation) {
            (Some(_), _) => "error",
            (None, Some(e)) => e.status.as_str(),
            (None, None) => default,
        }
    }
}

fn team_id(conn: &mut DbConn, slug: Option<&str>) -> Result<Option<String>, AppError> {
    match slug {
        Some(slug) => Ok(Some(
            store::teams::find_by_slug(conn, slug)?
                .ok_or_else(|| AppError::invalid("team", format!("no team with slug {slug:?}")))?
                .id,
        )),
        None => Ok(None),
    }
}

/// The status board of every active SLA as one snapshot, kept in memory until the database
/// changes or a period or version it shows starts or ends (see [`current_board`]).
pub struct Board {
    /// Every active SLA's line, in key order.
    pub lines: Vec<StatusLine>,
    /// The slugs of every team, so a filter by an unknown team is refused without a read.
    teams: std::collections::HashSet<String>,
    /// Answers rendered from this snapshot (by the caller's key), so each is rendered once.
    rendered: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<[u8]>>>,
}

impl Board {
    /// The lines `actor` may read, only those where `team` (a slug) is a party when given. The
    /// same rules as [`board`], applied in memory.
    pub fn lines_for(
        &self,
        actor: &Principal,
        team: Option<&str>,
    ) -> Result<Vec<&StatusLine>, AppError> {
        may_read_board(actor)?;
        if let Some(slug) = team
            && !self.teams.contains(slug)
        {
            return Err(AppError::invalid(
                "team",
                format!("no team with slug {slug:?}"),
            ));
        }
        Ok(self
            .lines
            .iter()
            .filter(|line| team.is_none_or(|slug| line.provider == slug || line.consumer == slug))
            .collect())
    }

    /// Whether `slug` names a team.
    pub fn has_team(&self, slug: &str) -> bool {
        self.teams.contains(slug)
    }

    /// `render()`'s answer, computed once per snapshot and `key`.
    pub fn rendered(
        &self,
        key: &str,
        render: impl FnOnce() -> Result<Vec<u8>, AppError>,
    ) -> Result<std::sync::Arc<[u8]>, AppError> {
        let lock = || {
            self.rendered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(body) = lock().get(key) {
            return Ok(body.clone());
        }
        let body: std::sync::Arc<[u8]> = render()?.into();
        lock().insert(key.to_string(), body.clone());
        Ok(body)
    }
}

/// The status board at `now`, from memory while nothing it shows has changed: the one read
/// path of `/status`, the Slack command and the status page. Requests read no database while
/// it holds (the caller's account is kept the same way, see `auth`).
pub async fn current_board(
    db: &store::Db,
    now: DateTime<Utc>,
) -> Result<std::sync::Arc<Board>, AppError> {
    db.run_memo("board".into(), now, move |conn| {
        store::read_tx(conn, |conn| {
            let (lines, until) = board_until(conn, None, now)?;
            let teams = store::teams::slugs(conn)?.into_iter().collect();
            let board = Board {
                lines,
                teams,
                rendered: Default::default(),
            };
            Ok((board, until))
        })
    })
    .await
}

/// Every active SLA's current period, optionally only where `team` is a party.
pub fn board(
    conn: &mut DbConn,
    actor: &Principal,
    team: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<StatusLine>, AppError> {
    may_read_board(actor)?;
    Ok(board_until(conn, team, now)?.0)
}

/// `Ok` when `actor` may read the status board.
pub fn may_read_board(actor: &Principal) -> Result<(), AppError> {
    actor.authorize(Action::ReadSlas)
}

/// The status board (see [`board`]) without the permission check, and the first instant after
/// `now` at which it could read differently without any change to the database: a version of a
/// listed SLA starting or ending, or an evaluation's period starting or ending.
///
/// Read in one transaction, so the board is one snapshot of the database: an evaluation cycle
/// committing meanwhile shows either before or after, never half of it.
pub fn board_until(
    conn: &mut DbConn,
    team: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(Vec<StatusLine>, Option<DateTime<Utc>>), AppError> {
    store::read_tx(conn, |conn| {
        let team_id = team_id(conn, team)?;
        let mut until = store::status::next_period_start(conn, now)?;
        let mut later = |at: Option<DateTime<Utc>>| {
            if let Some(at) = at.filter(|at| *at > now) {
                until = Some(until.map_or(at, |until| until.min(at)));
            }
        };
        let agreements: Vec<_> = store::status::active_agreements(conn)?
            .into_iter()
            .filter(|agreement| {
                team_id.as_ref().is_none_or(|id| {
                    *id == agreement.sla.provider.id || *id == agreement.sla.consumer.id
                })
            })
            .collect();
        let mut errors = store::slas::evaluation_errors(conn)?;
        let mut covering = {
            let slas: Vec<(&str, &str)> = agreements
                .iter()
                .map(|a| (a.sla.id.as_str(), a.sla.key.as_str()))
                .collect();
            store::evaluations::covering_all(conn, &slas, now)?
        };
        let mut lines = Vec::new();
        for agreement in agreements {
            for version in &agreement.versions {
                later(version.effective_from);
                later(version.effective_until);
            }
            let Some(version) = agreement.current(now) else {
                continue;
            };
            let definition = &version.definition;
            let evaluation = covering.remove(&agreement.sla.id);
            later(evaluation.as_ref().map(|e| e.period_end));
            let overdue = match definition.metric {
                Metric::ResponseTime { .. } => Some(
                    evaluation
                        .as_ref()
                        .and_then(|e| e.details["missed"].as_u64())
                        .unwrap_or(0),
                ),
                _ => None,
            };
            let period = evaluation.as_ref().map(|e| {
                crate::domain::breach::period_label(definition, e.period_start, e.period_end)
            });
            let period_name = evaluation
                .as_ref()
                .map(|e| present::period(definition, e.period_start, e.period_end));
            let reading = evaluation
                .as_ref()
                .map(|e| present::reading(definition, e.value, e.op, e.target, &e.details));
            lines.push(StatusLine {
                period_name,
                reading,
                error: errors.remove(&agreement.sla.id),
                period,
                sla: agreement.sla.key.clone(),
                name: definition.name.clone(),
                provider: agreement.sla.provider.slug.clone(),
                consumer: agreement.sla.consumer.slug.clone(),
                evaluation,
                target: definition.objective.target,
                op: definition.objective.op.as_str(),
                overdue,
            });
        }
        Ok((lines, until))
    })
}

/// Per SLA over a range: closed periods met and breached, the compliance rate and the streak.
#[derive(Clone, Debug, Serialize)]
pub struct Compliance {
    /// The SLA's key.
    pub sla: String,
    /// Its name.
    pub name: String,
    /// Provider team slug.
    pub provider: String,
    /// Consumer team slug.
    pub consumer: String,
    /// Closed periods judged met.
    pub met: u32,
    /// Closed periods judged breached.
    pub breached: u32,
    /// Closed periods without data.
    pub no_data: u32,
    /// met ÷ (met + breached), null without judged periods.
    pub compliance_rate: Option<f64>,
    /// The latest run of equal outcomes: `"met"` or `"breached"` and how many periods.
    pub current_streak: Option<(String, u32)>,
}

/// Compliance per SLA over periods that ended in `[from, to)`, optionally for one team.
pub fn compliance(
    conn: &mut DbConn,
    actor: &Principal,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    team: Option<&str>,
) -> Result<Vec<Compliance>, AppError> {
    actor.authorize(Action::ReadSlas)?;
    if to <= from {
        return Err(AppError::invalid("to", "must come after from"));
    }
    let filter = SlaFilter {
        status: None,
        team_id: team_id(conn, team)?,
    };
    let mut rows = Vec::new();
    for sla in store::slas::list(conn, &filter, None, i64::MAX)? {
        let agreement = store::slas::load(conn, sla)?;
        let Some(version) = agreement.last_signed() else {
            continue;
        };
        let periods: Vec<Evaluation> =
            store::evaluations::list(conn, &agreement.sla.key, None, Some(to), None, i64::MAX)?
                .into_iter()
                .filter(|e| {
                    e.period_end > from
                        && e.period_end <= to
                        && matches!(e.status, Status::Met | Status::Breached | Status::NoData)
                })
                .collect();
        let count = |status: Status| periods.iter().filter(|e| e.status == status).count() as u32;
        let (met, breached, no_data) = (
            count(Status::Met),
            count(Status::Breached),
            count(Status::NoData),
        );
        let judged: Vec<&Evaluation> = periods
            .iter()
            .filter(|e| e.status != Status::NoData)
            .collect();
        let current_streak = judged.last().map(|last| {
            let run = judged
                .iter()
                .rev()
                .take_while(|e| e.status == last.status)
                .count() as u32;
            (last.status.as_str().to_string(), run)
        });
        rows.push(Compliance {
            sla: agreement.sla.key.clone(),
            name: version.definition.name.clone(),
            provider: agreement.sla.provider.slug.clone(),
            consumer: agreement.sla.consumer.slug.clone(),
            met,
            breached,
            no_data,
            compliance_rate: (met + breached > 0)
                .then(|| f64::from(met) / f64::from(met + breached)),
            current_streak,
        });
    }
    Ok(rows)
}
