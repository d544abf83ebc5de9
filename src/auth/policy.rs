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
    /// Read the list of teams (people; tokens with `status:read`).
    ReadTeams,
    /// See a team's secrets (its webhook URL): an admin or a head of that team.
    ReadTeamSecrets {
        /// The team.
        team: &'a str,
    },
    /// Create a team.
    CreateTeam,
    /// Change a team's name, address or webhook.
    UpdateTeam {
        /// The team changed.
        team: &'a str,
    },
    /// Read people's accounts (which ones: [`Principal::visibility`]).
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
    /// Read agreements and how they stand: SLAs, versions, evaluations, overdue leads,
    /// calendars, status, reports and the board (people; tokens with `status:read`).
    ReadSlas,
    /// Ask what a definition would have scored (people).
    SimulateSla,
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
    /// Evaluate an SLA now: an admin or a person of a party team.
    EvaluateSla {
        /// The provider team.
        provider: &'a str,
        /// The consumer team.
        consumer: &'a str,
    },
    /// Create a business-hours calendar.
    CreateCalendar,
    /// Change or delete a calendar; `parties` are the (provider, consumer) pairs of the proposed
    /// and active SLA versions that use it. A head may only when their team is a party to each.
    ChangeCalendar {
        /// Who the calendar's users are.
        parties: &'a [(String, String)],
    },
    /// Read the audit log (which entries: [`Principal::visibility`]).
    ReadAudit,
    /// Log activity events at all: checked before an upload is read.
    WriteSomeEvents,
    /// Log activity events for `team` (id).
    WriteEvents {
        /// The team the events are for.
        team: &'a str,
    },
    /// Read activity events (people; tokens with `events:read`).
    ReadEvents,
    /// Read breaches (people; tokens with `breaches:read`).
    ReadBreaches,
    /// Acknowledge a breach: a head of either party.
    AcknowledgeBreach {
        /// The provider team.
        provider: &'a str,
        /// The consumer team.
        consumer: &'a str,
    },
    /// Dispute a breach: a head of the provider.
    DisputeBreach {
        /// The provider team.
        provider: &'a str,
    },
    /// Resolve a breach: an admin or a head of either party.
    ResolveBreach {
        /// The provider team.
        provider: &'a str,
        /// The consumer team.
        consumer: &'a str,
    },
    /// Read the outbox and put failed messages back in line (which ones:
    /// [`Principal::visibility`]).
    ManageNotifications,
}

/// Which teams' records a list shows the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Every team's.
    All,
    /// Only this team's (by id), and the agreements it is a party to.
    Team(String),
}

impl Principal {
    /// `Ok` when the caller may perform `action`, else 403.
    pub fn authorize(&self, action: Action<'_>) -> Result<(), AppError> {
        if self.allows(action) {
            Ok(())
        } else {
            Err(self.refusal(action))
        }
    }

    /// Whether the caller may perform `action`.
    pub fn allows(&self, action: Action<'_>) -> bool {
        match self {
            Self::System => true,
            Self::Service(token) => {
                let own_team = token.team.as_ref().map(|t| t.id.as_str());
                match action {
                    Action::WriteSomeEvents => self.has_scope(Scope::EventsWrite),
                    // A token of a team writes that team's events; one of no team (only an admin
                    // issues those) writes any team's, for a central CRM sync.
                    Action::WriteEvents { team } => {
                        self.has_scope(Scope::EventsWrite) && own_team.is_none_or(|own| own == team)
                    }
                    Action::ReadEvents => self.has_scope(Scope::EventsRead),
                    Action::ReadTeams | Action::ReadSlas => self.has_scope(Scope::StatusRead),
                    Action::ReadBreaches => self.has_scope(Scope::BreachesRead),
                    _ => false,
                }
            }
            Self::User(user) => {
                let own_team = user.team.as_ref().map(|t| t.id.as_str());
                let is_own = |team: Option<&str>| team.is_some() && team == own_team;
                let is_party = |provider: &str, consumer: &str| {
                    is_own(Some(provider)) || is_own(Some(consumer))
                };
                match (user.role, action) {
                    // An admin administers but never signs for a team, nor speaks for one.
                    (
                        Role::Admin,
                        Action::SignSla { .. }
                        | Action::AcknowledgeBreach { .. }
                        | Action::DisputeBreach { .. },
                    ) => false,
                    (Role::Admin, _) => true,
                    (
                        _,
                        Action::ReadTeams
                        | Action::ReadUsers
                        | Action::ReadSlas
                        | Action::SimulateSla
                        | Action::ReadEvents
                        | Action::ReadBreaches,
                    ) => true,
                    (_, Action::WriteSomeEvents) => own_team.is_some(),
                    // People log activity for their own team only.
                    (_, Action::WriteEvents { team }) => is_own(Some(team)),
                    (_, Action::EvaluateSla { provider, consumer }) => is_party(provider, consumer),
                    (
                        Role::Head,
                        Action::ProposeSla { provider, consumer }
                        | Action::SignSla { provider, consumer }
                        | Action::RetireSla { provider, consumer }
                        | Action::AcknowledgeBreach { provider, consumer }
                        | Action::ResolveBreach { provider, consumer },
                    ) => is_party(provider, consumer),
                    (Role::Head, Action::DisputeBreach { provider }) => is_own(Some(provider)),
                    (
                        Role::Head,
                        Action::CreateCalendar | Action::ReadAudit | Action::ManageNotifications,
                    ) => true,
                    // A calendar in use is the business of the parties that use it.
                    (Role::Head, Action::ChangeCalendar { parties }) => parties
                        .iter()
                        .all(|(provider, consumer)| is_party(provider, consumer)),
                    (
                        Role::Head,
                        Action::UpdateTeam { team } | Action::ReadTeamSecrets { team },
                    ) => is_own(Some(team)),
                    // A head runs their own team but cannot mint admins.
                    (Role::Head, Action::ManageUser { team, role }) => {
                        is_own(team) && role != Role::Admin
                    }
                    (Role::Head, Action::ManageServiceTokens { team }) => is_own(team),
                    (Role::Head | Role::Member, _) => false,
                }
            }
        }
    }

    /// Which teams' people, tokens, audit entries and messages the caller sees in lists.
    pub fn visibility(&self) -> Visibility {
        match (self, self.role(), self.team()) {
            (Self::System, ..) | (_, Some(Role::Admin), _) => Visibility::All,
            (_, _, Some(team)) => Visibility::Team(team.id.clone()),
            // A caller without a team and without admin rights sees nothing of other teams.
            (_, _, None) => Visibility::Team(String::new()),
        }
    }

    fn refusal(&self, action: Action<'_>) -> AppError {
        let detail: String = match (self, action) {
            (Self::Service(_), Action::WriteSomeEvents) => {
                "this service token lacks the events:write scope".into()
            }
            (Self::Service(token), Action::WriteEvents { .. }) if token.team.is_some() => {
                "this service token posts events only for its own team".into()
            }
            (Self::Service(_), _) => match required_scope(action) {
                Some(scope) => format!("this service token lacks the {} scope", scope.as_str()),
                None => "service tokens cannot do this; sign in as a person".into(),
            },
            (_, Action::WriteSomeEvents | Action::WriteEvents { .. }) => {
                "you may post events only for your own team".into()
            }
            (_, Action::CreateTeam) => "only an admin can create teams".into(),
            (
                Self::User(user),
                Action::SignSla { .. }
                | Action::AcknowledgeBreach { .. }
                | Action::DisputeBreach { .. },
            ) if user.role == Role::Admin => {
                "an admin administers agreements but never signs or speaks for a team".into()
            }
            (_, Action::SignSla { .. }) => {
                "only a head of the provider or the consumer team can sign".into()
            }
            (_, Action::DisputeBreach { .. }) => {
                "only a head of the provider team can dispute a breach".into()
            }
            (_, Action::AcknowledgeBreach { .. }) => {
                "only a head of the provider or the consumer team can acknowledge a breach".into()
            }
            (
                _,
                Action::ProposeSla { .. } | Action::RetireSla { .. } | Action::ResolveBreach { .. },
            ) => "only an admin or a head of the provider or the consumer team can do this".into(),
            (_, Action::EvaluateSla { .. }) => {
                "only an admin or a person of the provider or the consumer team can do this".into()
            }
            (_, Action::ChangeCalendar { .. }) => {
                "this calendar is used by agreements your team is not a party to; only an admin \
                 or a head of every party can change it"
                    .into()
            }
            (_, Action::CreateCalendar | Action::ReadAudit | Action::ManageNotifications) => {
                "only an admin or a head can do this".into()
            }
            (
                _,
                Action::ManageUser {
                    role: Role::Admin, ..
                },
            ) => "only an admin can manage admin accounts".into(),
            (
                _,
                Action::UpdateTeam { .. }
                | Action::ReadTeamSecrets { .. }
                | Action::ManageUser { .. }
                | Action::ManageServiceTokens { .. },
            ) => "only an admin or a head of that team can do this".into(),
            _ => "your role does not allow this".into(),
        };
        AppError::Forbidden(detail)
    }
}

/// The scope that lets a service token do `action`, if any does.
fn required_scope(action: Action<'_>) -> Option<Scope> {
    match action {
        Action::WriteSomeEvents | Action::WriteEvents { .. } => Some(Scope::EventsWrite),
        Action::ReadEvents => Some(Scope::EventsRead),
        Action::ReadTeams | Action::ReadSlas => Some(Scope::StatusRead),
        Action::ReadBreaches => Some(Scope::BreachesRead),
        _ => None,
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
            token_generation: 0,
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
        let token_with = |scopes: Vec<Scope>, team: Option<&str>| {
            Principal::Service(ServiceToken {
                id: "t".into(),
                name: "bot".into(),
                team: team.map(|t| TeamRef {
                    id: t.into(),
                    slug: t.into(),
                }),
                scopes,
                created_by: "u".into(),
                created_at: Utc::now(),
                revoked_at: None,
            })
        };
        let reader = token_with(vec![Scope::StatusRead], None);
        let sales_writer = token_with(vec![Scope::EventsWrite], Some("sales"));
        let both_sides = [("marketing".to_string(), "sales".to_string())];
        let others_too = [
            ("marketing".to_string(), "sales".to_string()),
            ("support".to_string(), "marketing".to_string()),
        ];
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
            // A token does what its scopes name, nothing more.
            (&token, Action::WriteSomeEvents, true),
            (&token, Action::WriteEvents { team: "sales" }, true),
            (&token, Action::ReadTeams, false),
            (&token, Action::ReadSlas, false),
            (&token, Action::ReadEvents, false),
            (&token, Action::ReadUsers, false),
            (&reader, Action::ReadTeams, true),
            (&reader, Action::ReadSlas, true),
            (&reader, Action::ReadBreaches, false),
            (&reader, Action::WriteSomeEvents, false),
            (&reader, Action::SimulateSla, false),
            (&sales_writer, Action::WriteEvents { team: "sales" }, true),
            (
                &sales_writer,
                Action::WriteEvents { team: "marketing" },
                false,
            ),
            (&member, Action::WriteEvents { team: "sales" }, true),
            (&member, Action::WriteEvents { team: "marketing" }, false),
            (&admin, Action::WriteEvents { team: "sales" }, true),
            (
                &head,
                Action::ChangeCalendar {
                    parties: &both_sides,
                },
                true,
            ),
            (
                &head,
                Action::ChangeCalendar {
                    parties: &others_too,
                },
                false,
            ),
            (
                &admin,
                Action::ChangeCalendar {
                    parties: &others_too,
                },
                true,
            ),
            (&head, Action::ReadTeamSecrets { team: "sales" }, true),
            (&member, Action::ReadTeamSecrets { team: "sales" }, false),
            (&head, Action::DisputeBreach { provider: "sales" }, true),
            (
                &head,
                Action::DisputeBreach {
                    provider: "marketing",
                },
                false,
            ),
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
