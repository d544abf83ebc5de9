//! Breaches and the messages that tell both teams about them.

use std::str::FromStr;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;

use super::sla::{Definition, Op, Window};

/// Where a breach stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BreachStatus {
    /// Just opened; nobody has reacted.
    Open,
    /// A head of either party has seen it and said what happens next.
    Acknowledged,
    /// The provider's head contests it, with a reason both teams see.
    Disputed,
    /// Dealt with (or, for a rolling window, the objective holds again).
    Resolved,
    /// A restatement turned the period into `met`.
    Withdrawn,
}

impl BreachStatus {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Disputed => "disputed",
            Self::Resolved => "resolved",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// Whether the breach still needs someone.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Open | Self::Acknowledged | Self::Disputed)
    }
}

impl FromStr for BreachStatus {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "open" => Ok(Self::Open),
            "acknowledged" => Ok(Self::Acknowledged),
            "disputed" => Ok(Self::Disputed),
            "resolved" => Ok(Self::Resolved),
            "withdrawn" => Ok(Self::Withdrawn),
            other => Err(format!("unknown breach status {other:?}")),
        }
    }
}

/// An SLA that failed its objective for one period (or one rolling episode).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Breach {
    /// Id (UUIDv7).
    pub id: String,
    /// The SLA's internal id.
    pub sla_id: String,
    /// The SLA's key.
    pub sla: String,
    /// The version in force for the period.
    pub version: i32,
    /// Period start.
    pub period_start: DateTime<Utc>,
    /// Period end.
    pub period_end: DateTime<Utc>,
    /// Where it stands.
    pub status: BreachStatus,
    /// The value that missed.
    pub value: Option<f64>,
    /// The target.
    pub target: f64,
    /// The comparison.
    pub op: Op,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// Who acknowledged it (email).
    pub acknowledged_by: Option<String>,
    /// When.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// The acknowledgement's note.
    pub note: Option<String>,
    /// Who disputed it (email).
    pub disputed_by: Option<String>,
    /// Why.
    pub dispute_reason: Option<String>,
    /// When it was resolved or withdrawn.
    pub closed_at: Option<DateTime<Utc>>,
    /// When the last reminder went out.
    pub last_reminded_at: Option<DateTime<Utc>>,
    /// Its period ended before its version was signed: found by a backfill of history,
    /// announced in a summary and never reminded.
    pub is_historical: bool,
}

/// A period as people name it: `2026-10`, `2026-W44`, `2026-11-03`, `2026-Q4`, or a range.
pub fn period_label(definition: &Definition, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    match &definition.window {
        Window::Calendar { period, timezone } => {
            let local = start.with_timezone(timezone).date_naive();
            match period {
                super::period::PeriodKind::Day => local.format("%Y-%m-%d").to_string(),
                super::period::PeriodKind::Week => {
                    let week = local.iso_week();
                    format!("{}-W{:02}", week.year(), week.week())
                }
                super::period::PeriodKind::Month => local.format("%Y-%m").to_string(),
                super::period::PeriodKind::Quarter => {
                    format!("{}-Q{}", local.year(), local.month0() / 3 + 1)
                }
            }
        }
        Window::Rolling { length } => {
            format!("the {length} to {}", end.format("%Y-%m-%d %H:%M UTC"))
        }
    }
}
