//! The evidence behind a window's value, for people to act on: the leads that missed and by how
//! much, or how a count stands against its target. Read from the events as they are now, through
//! the same queries as evaluation, so the evidence and the value agree.

use chrono::{DateTime, Utc};

use crate::domain::agreement::SlaVersion;
use crate::domain::breach::Breach;
use crate::domain::calendar::Hours;
use crate::domain::evaluation::{Judged, Measurement, Missed, misses};
use crate::domain::present;
use crate::domain::sla::{Metric, Window};
use crate::error::AppError;
use crate::service::evaluation::{calendar_of_version, measure};
use crate::store::{self, DbConn};

/// How many missed leads a message or page lists before "and N more".
pub const LISTED: usize = 20;

/// What a window's value rests on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence {
    /// Response times: the first [`LISTED`] starts answered late or not at all, latest first.
    pub missed: Vec<Missed>,
    /// How many more missed beyond those listed.
    pub more: usize,
    /// Counts: the shortfall of a closed period or the pace of an open one.
    pub pace: Option<String>,
    /// The counts behind the stored value of the window (an evaluation's `details`); `null`
    /// when none is stored.
    pub details: serde_json::Value,
}

/// The evidence of `[start, end)` judged by `version`, as of `now`.
pub fn for_window(
    conn: &mut DbConn,
    version: &SlaVersion,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Evidence, AppError> {
    let definition = &version.definition;
    let judged = Judged {
        start,
        end,
        rolling: matches!(definition.window, Window::Rolling { .. }),
    };
    let closed = judged.rolling || now >= end;
    Ok(
        match (
            &definition.metric,
            measure(conn, definition, judged, now, None)?,
        ) {
            (Metric::ResponseTime { threshold, .. }, Measurement::ResponseTime(starts)) => {
                let calendar = calendar_of_version(conn, version)?;
                let hours = calendar.as_ref().map_or(Hours::Always, Hours::Business);
                let mut missed = misses(&starts, threshold.as_secs(), hours, now);
                let more = missed.len().saturating_sub(LISTED);
                missed.truncate(LISTED);
                Evidence {
                    missed,
                    more,
                    ..Evidence::default()
                }
            }
            (_, Measurement::Count(count)) => {
                let length = (end - start).num_milliseconds().max(1) as f64;
                let elapsed = ((now - start).num_milliseconds() as f64 / length).clamp(0.0, 1.0);
                let objective = definition.objective;
                Evidence {
                    pace: present::pace(
                        definition,
                        count,
                        elapsed,
                        closed,
                        objective.op,
                        objective.target,
                    ),
                    ..Evidence::default()
                }
            }
            _ => Evidence::default(),
        },
    )
}

/// The evidence of a breach's period, judged by the version it was found under.
pub fn for_breach(
    conn: &mut DbConn,
    breach: &Breach,
    now: DateTime<Utc>,
) -> Result<Evidence, AppError> {
    let version = super::breaches::version_of(conn, breach)?;
    let stored = store::evaluations::find(conn, &breach.sla_id, &breach.sla, breach.period_start)?;
    Ok(Evidence {
        details: stored.map(|e| e.details).unwrap_or_default(),
        ..for_window(conn, &version, breach.period_start, breach.period_end, now)?
    })
}
