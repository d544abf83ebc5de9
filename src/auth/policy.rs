//! The one place that says which caller may do what.
//!
//! Handlers and services ask [`Principal::authorize`] with an [`Action`]; nothing else
//! compares roles.

use super::Principal;
use crate::domain::identity::{Role, Scope};
use crate::error::AppError;

/// Something a caller wants to do, with the team ids it concerns.
#[derive(Clone, Copy, Debug)]
pub enum Action<'a> {
    /// Read the list of teams (any signed-in person or token).
    ReadTeams,
    /// Create a team.
    CreateTeam,
    /// Change a team's name, address or webhook.
    UpdateTeam {
        /// The team changed.
        team: &'a str,
    },
    /// Read people's accounts.
    ReadUsers,
    /// Create, change or deactivate the account of someone with `role` in `team`.
    ManageUser {
        /// The team of the account (before and after a change, both are checked).
        team: Option<&'a str>,
        /// The role of the account.
        role: Role,
    },
    /// Issue, list or revoke service tokens of `team` (`None`: a token of no team).
    ManageServiceTokens {
        /// The team the tokens belong to.
        team: Option<&'a str>,
    },
    /// Read SLAs, their versions and calendars (anyone signed in, bots included).
    ReadSlas,
    /// Propose an SLA or a revision between two teams (ids).
    ProposeSla {
        /// The provider team.
        provider: &'a str,
        /// The consumer team.
        consumer: &'a str,
    },
    /// Approve or reject a version on behalf of one's own team: heads of a party only.
    SignSla {
        /// The provider team.
        provider: &'a str,
        /// The consumer team.
        consumer: &'a str,
    },
    /// Retire an SLA.
    RetireSla {
        /// The provider team.
        provider: &'a str,
        /// The consumer team.
        consumer: &'a str,
    },
    /// Create, change or delete business-hours calendars.
    ManageCalendars,
    /// Read the audit log.
    ReadAudit,
    /// Log activity events for `team` (id).
    WriteEvents {
        /// The team the events are for.
        team: &'a str,
    },
    /// Read activity events.
    ReadEvents,
    /// Read the outbox and put failed messages back in line.
    ManageNotifications,
}

/// Which teams' records a list shows the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Every team's.
    All,
    /// Only this team's (by id).
    Team(String),
}

impl Principal {
    /// `Ok` when the caller may perform `action`, else 403.
    pub fn authorize(&self, action: Action<'_>) -> Result<(), AppError> {
        let allowed = match self {
            Self::System => true,
            Self::Service(_) if matches!(action, Action::WriteEvents { .. }) => {
                self.has_scope(Scope::EventsWrite)
            }
            Self::Service(_) => matches!(
                action,
                Action::ReadTeams | Action::ReadSlas | Action::ReadEvents
            ),
            Self::User(user) => {
                let own_team = user.team.as_ref().map(|t| t.id.as_str());
                let is_own = |team: Option<&str>| team.is_some() && team == own_team;
                let is_party = |provider: &str, consumer: &str| {
                    is_own(Some(provider)) || is_own(Some(consumer))
                };
                match (user.role, action) {
                    // An admin administers but never signs for a team.
                    (Role::Admin, Action::SignSla { .. }) => false,
                    (Role::Admin, _) => true,
                    (
                        _,
                        Action::ReadTeams
                        | Action::ReadUsers
                        | Action::ReadSlas
                        | Action::ReadEvents,
                    ) => true,
                    // People log activity for their own team only.
                    (Role::Head | Role::Member, Action::WriteEvents { team }) => is_own(Some(team)),
                    (
                        Role::Head,
                        Action::ProposeSla { provider, consumer }
                        | Action::SignSla { provider, consumer }
                        | Action::RetireSla { provider, consumer },
                    ) => is_party(provider, consumer),
                    (
                        Role::Head,
                        Action::ManageCalendars | Action::ReadAudit | Action::ManageNotifications,
                    ) => true,
                    (Role::Head, Action::UpdateTeam { team }) => is_own(Some(team)),
                    // A head runs their own team but cannot mint admins.
                    (Role::Head, Action::ManageUser { team, role }) => {
                        is_own(team) && role != Role::Admin
                    }
                    (Role::Head, Action::ManageServiceTokens { team }) => is_own(team),
                    (Role::Head | Role::Member, _) => false,
                }
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(self.refusal(action))
        }
    }

    /// Which teams' people and tokens the caller sees in lists.
    pub fn visibility(&self) -> Visibility {
        match (self, self.role(), self.team()) {
            (Self::System, ..) | (_, Some(Role::Admin), _) => Visibility::All,
            (_, _, Some(team)) => Visibility::Team(team.id.clone()),
            // A caller without a team and without admin rights sees nothing of other teams.
            (_, _, None) => Visibility::Team(String::new()),
        }
    }

    fn refusal(&self, action: Action<'_>) -> AppError {
        let detail = match (self, action) {
            (Self::Service(_), Action::WriteEvents { .. }) => {
                "this service token lacks the events:write scope"
            }
            (Self::Service(_), _) => "service tokens may only post events and read status",
            (_, Action::WriteEvents { .. }) => "you may post events only for your own team",
            (_, Action::CreateTeam) => "only an admin can create teams",
            (Self::User(user), Action::SignSla { .. }) if user.role == Role::Admin => {
                "an admin administers agreements but never signs for a team"
            }
            (_, Action::SignSla { .. }) => {
                "only a head of the provider or the consumer team can sign"
            }
            (_, Action::ProposeSla { .. } | Action::RetireSla { .. }) => {
                "only an admin or a head of the provider or the consumer team can do this"
            }
            (_, Action::ManageCalendars | Action::ReadAudit | Action::ManageNotifications) => {
                "only an admin or a head can do this"
            }
            (
                _,
                Action::ManageUser {
                    role: Role::Admin, ..
                },
            ) => "only an admin can manage admin accounts",
            (
                _,
                Action::UpdateTeam { .. }
                | Action::ManageUser { .. }
                | Action::ManageServiceTokens { .. },
            ) => "only an admin or a head of that team can do this",
            _ => "your role does not allow this",
        };
        AppError::Forbidden(detail.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identity::{Scope, ServiceToken, TeamRef, User};
    use chrono::Utc;

    fn user(role: Role, team: Option<&str>) -> Principal {
        Principal::User(User {
            id: "u".into(),
            email: "u@example.com".into(),
            name: "U".into(),
            team: team.map(|t| TeamRef {
                id: t.into(),
                slug: t.into(),
            }),
            role,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            deactivated_at: None,
        })
    }

    #[test]
    fn the_role_table() {
        let admin = user(Role::Admin, None);
        let head = user(Role::Head, Some("sales"));
        let member = user(Role::Member, Some("sales"));
        let token = Principal::Service(ServiceToken {
            id: "t".into(),
            name: "crm".into(),
            team: None,
            scopes: vec![Scope::EventsWrite],
            created_by: "u".into(),
            created_at: Utc::now(),
            revoked_at: None,
        });
        let sales_member = Action::ManageUser {
            team: Some("sales"),
            role: Role::Member,
        };
        let sales_admin = Action::ManageUser {
            team: Some("sales"),
            role: Role::Admin,
        };
        let other_member = Action::ManageUser {
            team: Some("marketing"),
            role: Role::Member,
        };
        let cases: &[(&Principal, Action<'_>, bool)] = &[
            (&admin, Action::CreateTeam, true),
            (&head, Action::CreateTeam, false),
            (&member, Action::CreateTeam, false),
            (&token, Action::CreateTeam, false),
            (&head, Action::UpdateTeam { team: "sales" }, true),
            (&head, Action::UpdateTeam { team: "marketing" }, false),
            (&member, Action::UpdateTeam { team: "sales" }, false),
            (&admin, sales_admin, true),
            (&head, sales_member, true),
            (&head, sales_admin, false),
            (&head, other_member, false),
            (&member, sales_member, false),
            (&token, sales_member, false),
            (
                &head,
                Action::ManageServiceTokens {
                    team: Some("sales"),
                },
                true,
            ),
            (&head, Action::ManageServiceTokens { team: None }, false),
            (
                &member,
                Action::ManageServiceTokens {
                    team: Some("sales"),
                },
                false,
            ),
            (&token, Action::ReadTeams, true),
            (&token, Action::ReadUsers, false),
        ];
        for (principal, action, expected) in cases {
            assert_eq!(
                principal.authorize(*action).is_ok(),
                *expected,
                "{principal:?} {action:?}"
            );
        }
    }
}
