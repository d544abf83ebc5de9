//! An agreement over time: the SLA, its versions, and who signed which.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::calendar::Calendar;
use super::identity::TeamRef;
use super::sla::{Definition, SlaStatus, VersionStatus};

/// The SLA itself: its parties and where it stands.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sla {
    /// Internal id.
    pub id: String,
    /// Public key.
    pub key: String,
    /// The team that commits.
    pub provider: TeamRef,
    /// The team that relies on it.
    pub consumer: TeamRef,
    /// Where it stands.
    pub status: SlaStatus,
    /// Actor who created it (`user:<id>`).
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A party's signature on a version.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Approval {
    /// The party that signed.
    pub team: TeamRef,
    /// The head who signed.
    pub user_id: String,
    /// Their address, for display.
    pub user_email: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One version of an SLA's definition.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SlaVersion {
    /// Internal id.
    pub id: String,
    /// 1, 2, …
    pub version: i32,
    /// What it says.
    pub definition: Definition,
    /// Where it stands.
    pub status: VersionStatus,
    /// Actor who proposed it.
    pub proposed_by: String,
    /// When.
    pub proposed_at: DateTime<Utc>,
    /// Actor who activated, rejected, superseded or retired it.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// First instant it governs (set when signed).
    pub effective_from: Option<DateTime<Utc>>,
    /// First instant it no longer governs (set when replaced or retired).
    pub effective_until: Option<DateTime<Utc>>,
    /// Signatures so far.
    pub approvals: Vec<Approval>,
    /// The business-hours calendar its definition names, as it was when the version was signed
    /// (`None` before signing, for a definition without one, or for a version signed before
    /// calendars were kept with their versions).
    #[serde(skip)]
    pub calendar: Option<Calendar>,
}

impl SlaVersion {
    /// Whether it governs the instant `at`.
    pub fn governs(&self, at: DateTime<Utc>) -> bool {
        self.effective_from.is_some_and(|from| from <= at)
            && self.effective_until.is_none_or(|until| at < until)
    }

    /// When it was signed by the last of both parties: the instant it became binding.
    pub fn signed_at(&self) -> Option<DateTime<Utc>> {
        self.effective_from?;
        self.approvals.iter().map(|a| a.at).max()
    }

    /// Whether `team_id` has signed it.
    pub fn is_signed_by(&self, team_id: &str) -> bool {
        self.approvals.iter().any(|a| a.team.id == team_id)
    }
}

/// An SLA with all its versions, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Agreement {
    /// The SLA.
    pub sla: Sla,
    /// Every version, by number.
    pub versions: Vec<SlaVersion>,
}

impl Agreement {
    /// The version awaiting signatures, if any (there is at most one).
    pub fn pending(&self) -> Option<&SlaVersion> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.status == VersionStatus::Proposed)
    }

    /// The version that governs `at`, if one does.
    pub fn in_force(&self, at: DateTime<Utc>) -> Option<&SlaVersion> {
        self.versions.iter().rev().find(|v| v.governs(at))
    }

    /// The last version that was signed, whether or not it governs yet.
    pub fn last_signed(&self) -> Option<&SlaVersion> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.effective_from.is_some())
    }

    /// The version to show as the SLA: the one in force, else the last signed one (about to
    /// govern), else the newest.
    pub fn current(&self, at: DateTime<Utc>) -> Option<&SlaVersion> {
        self.in_force(at)
            .or_else(|| self.last_signed())
            .or_else(|| self.versions.last())
    }
}

impl Agreement {
    /// A compact picture for the audit log: where the SLA and each version stand.
    pub fn snapshot(&self) -> serde_json::Value {
        let versions: Vec<serde_json::Value> = self
            .versions
            .iter()
            .map(|v| {
                serde_json::json!({
                    "version": v.version,
                    "status": v.status,
                    "approvals": v.approvals.iter().map(|a| a.team.slug.as_str()).collect::<Vec<_>>(),
                    "effective_from": v.effective_from,
                    "effective_until": v.effective_until,
                    "reason": v.reason,
                })
            })
            .collect();
        serde_json::json!({
            "key": self.sla.key,
            "status": self.sla.status,
            "versions": versions,
            "definition": self.versions.last().map(|v| &v.definition),
        })
    }
}
