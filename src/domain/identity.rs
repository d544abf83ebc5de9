//! Teams, people and service tokens: who acts in accord.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A department that provides or consumes SLAs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Team {
    /// Internal id (UUIDv7).
    pub id: String,
    /// Public address of the team (`marketing`).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Distribution address that notifications go to.
    pub email: String,
    /// Incoming webhook, if the team wants chat posts.
    pub webhook_url: Option<String>,
    /// What the webhook takes.
    pub webhook_kind: WebhookKind,
    /// The key a generic webhook's posts are signed with (`whsec_…`); never logged or audited.
    #[serde(skip)]
    pub webhook_secret: Option<String>,
    /// A daily digest of at-risk messages and reminders instead of one message each.
    pub digest: Option<Digest>,
    /// When the team was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a team's webhook takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookKind {
    /// A Slack incoming webhook (`text` and Block Kit `blocks`).
    #[default]
    Slack,
    /// A Microsoft Teams incoming webhook (Workflows): an Adaptive Card.
    Teams,
    /// Any system: JSON signed per Standard Webhooks with the team's secret.
    Generic,
}

impl WebhookKind {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Teams => "teams",
            Self::Generic => "generic",
        }
    }

    /// From the stored name (an unknown one reads as Slack, the kind before there were kinds).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "slack" => Some(Self::Slack),
            "teams" => Some(Self::Teams),
            "generic" => Some(Self::Generic),
            _ => None,
        }
    }
}

/// When a team's daily digest goes out: the first evaluation cycle at or after `hour` o'clock in
/// `timezone`, once per local day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Digest {
    /// Local hour, 0–23.
    pub hour: u8,
    /// IANA zone (`Europe/Berlin`).
    #[schema(value_type = String)]
    pub timezone: chrono_tz::Tz,
}

/// A reference to a team: its id for storage, its slug for the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TeamRef {
    /// Internal id.
    pub id: String,
    /// Public slug.
    pub slug: String,
}

/// What a person may do; the rules live in [`crate::auth::policy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Administers the instance: teams, users, tokens, retiring SLAs. Never signs for a team.
    Admin,
    /// Head of a team: signs SLAs and manages the team's people and tokens.
    Head,
    /// Member of a team: reads and logs activity for the team.
    Member,
}

impl Role {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Head => "head",
            Self::Member => "member",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "admin" => Ok(Self::Admin),
            "head" => Ok(Self::Head),
            "member" => Ok(Self::Member),
            other => Err(format!(
                "unknown role {other:?}; expected admin, head or member"
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person who signs in with email and password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// Internal id (UUIDv7).
    pub id: String,
    /// Sign-in address, stored lowercase.
    pub email: String,
    /// Display name.
    pub name: String,
    /// The team, required for heads and members.
    pub team: Option<TeamRef>,
    /// What the person may do.
    pub role: Role,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Set when the account was deactivated; such an account cannot sign in.
    pub deactivated_at: Option<DateTime<Utc>>,
    /// Moves on when the password changes; tokens carry the generation they were issued in and
    /// are refused once it has moved on.
    #[serde(skip)]
    pub token_generation: i32,
}

/// What a service token may be used for: a token can do what its scopes name and nothing else
/// (the table is in `docs/security.md`).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Scope {
    /// Post activity events: for its team when the token has one, else for any team.
    #[serde(rename = "events:write")]
    EventsWrite,
    /// Read activity events (`GET /events`).
    #[serde(rename = "events:read")]
    EventsRead,
    /// Read agreements and how they stand: status, SLAs, versions, evaluations, overdue leads,
    /// calendars, teams, the compliance report and the status board (for bots and wall screens).
    #[serde(rename = "status:read")]
    StatusRead,
    /// Read breaches (`GET /breaches`), for bots that list what is open.
    #[serde(rename = "breaches:read")]
    BreachesRead,
}

impl Scope {
    /// Every scope, in the order the documentation lists them.
    pub const ALL: [Self; 4] = [
        Self::EventsWrite,
        Self::EventsRead,
        Self::StatusRead,
        Self::BreachesRead,
    ];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventsWrite => "events:write",
            Self::EventsRead => "events:read",
            Self::StatusRead => "status:read",
            Self::BreachesRead => "breaches:read",
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == value)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "unknown scope {value:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// A revocable credential for a system or bot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceToken {
    /// Internal id (UUIDv7), used to revoke it.
    pub id: String,
    /// What the token is for, e.g. `crm-sync`.
    pub name: String,
    /// The team it belongs to, if any.
    pub team: Option<TeamRef>,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// The user who issued it.
    pub created_by: String,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked token is refused.
    pub revoked_at: Option<DateTime<Utc>>,
}
