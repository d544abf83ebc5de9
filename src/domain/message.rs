//! The words of every message accord sends: mail (subject, text and HTML from the templates in
//! `templates/mail/`), and the bodies of the three webhook kinds (Slack, Microsoft Teams, a
//! generic signed JSON). Rendered once, when the message is enqueued; pure: no clock, no database.

use askama::Template;
use serde_json::json;

use super::chat::{self, SlackMessage};
use super::present::{PeriodName, Reading};

/// What a message says about one SLA (and, for breach messages, one breach).
#[derive(Clone, Debug)]
pub struct MessageFacts {
    /// `breach.opened`, `breach.reminder`, `breach.acknowledged`, `breach.disputed`,
    /// `breach.resolved`, `breach.withdrawn`, `sla.at_risk`, `sla.recovered`, `sla.data_stale`,
    /// `sla.data_resumed`, `sla.backfilled`, `sla.evaluation_failed`, `sla.proposed` or
    /// `sla.activated`.
    pub kind: &'static str,
    /// The SLA's key.
    pub sla_key: String,
    /// Its name.
    pub sla_name: String,
    /// Provider team slug.
    pub provider: String,
    /// Consumer team slug.
    pub consumer: String,
    /// What was promised, in words (who to whom, what, by when).
    pub promise: String,
    /// The period concerned.
    pub period: PeriodName,
    /// What was measured, against the target.
    pub reading: Reading,
    /// The version concerned (0: none).
    pub version: i32,
    /// The breach concerned, if any.
    pub breach_id: Option<String>,
    /// Why the value is what it is: the leads that missed, and how.
    pub evidence: EvidenceLines,
    /// Pages that open in a browser.
    pub links: MessageLinks,
    /// Extra line (a dispute reason, who acknowledged), if any.
    pub extra: Option<String>,
}

/// The evidence behind a value, in words.
#[derive(Clone, Debug, Default)]
pub struct EvidenceLines {
    /// One line per missed lead (`lead-8812: answered 2 h 05 min late`), at most 20.
    pub missed: Vec<String>,
    /// How many more were missed beyond those.
    pub more: usize,
    /// The pace of an open period of a count or ratio.
    pub pace: Option<String>,
}

/// Web pages a message links to.
#[derive(Clone, Debug)]
pub struct MessageLinks {
    /// The SLA's page.
    pub sla: String,
    /// The breach's page, if the message is about a breach.
    pub breach: Option<String>,
    /// The board of every SLA.
    pub board: String,
}

impl MessageFacts {
    /// The status word of the subject (`BREACHED`).
    pub fn label(&self) -> &'static str {
        words(self.kind).label
    }

    /// What to do next, and who may do it.
    pub fn next(&self) -> &'static str {
        words(self.kind).next
    }

    /// The subject: `[accord] BREACHED: MQL volume (marketing → sales), October 2026 (2026-10)`.
    pub fn subject(&self) -> String {
        format!(
            "[accord] {}: {} ({} → {}), {}",
            self.label(),
            self.sla_name,
            self.provider,
            self.consumer,
            self.period.short()
        )
    }

    /// The page to open first: the breach's, else the SLA's.
    pub fn main_link(&self) -> &str {
        self.links.breach.as_deref().unwrap_or(&self.links.sla)
    }

    /// The button text for [`Self::main_link`].
    pub fn main_link_text(&self) -> &'static str {
        if self.links.breach.is_some() {
            "Open the breach"
        } else {
            "Open the SLA"
        }
    }
}

/// Escapes text for HTML written by hand (the mail templates escape by themselves).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

struct Words {
    label: &'static str,
    next: &'static str,
}

/// Each kind's status word and the next step, with who may take it (the rules are those of
/// `auth::policy`: either party's head acknowledges or resolves, only the provider's head
/// disputes, an admin resolves too).
fn words(kind: &str) -> Words {
    let (label, next) = match kind {
        "breach.opened" => (
            "BREACHED",
            "The objective was missed. A head of either team acknowledges the breach on its page, with a note on what happens next; the provider's head may instead dispute it with a reason, which both teams see. Once it is dealt with, a head of either team (or an admin) resolves it.",
        ),
        "breach.reminder" => (
            "STILL OPEN",
            "Nobody has acknowledged this breach yet. A head of either team acknowledges it on its page with a note; the provider's head may instead dispute it with a reason.",
        ),
        "breach.acknowledged" => (
            "ACKNOWLEDGED",
            "A head has acknowledged the breach; the note says what happens next. Once it is dealt with, a head of either team (or an admin) resolves it on its page. No more reminders are sent.",
        ),
        "breach.disputed" => (
            "DISPUTED",
            "The provider's head disputes this breach; both teams see the reason. Settle it between the heads; then a head of either team (or an admin) resolves it on its page.",
        ),
        "breach.resolved" => ("RESOLVED", "The breach is closed. Nothing to do."),
        "breach.withdrawn" => (
            "WITHDRAWN",
            "Late activity restated the period: the objective is met after all, and the breach is withdrawn. Nothing to do.",
        ),
        "sla.at_risk" => (
            "AT RISK",
            "At the current pace the period will miss its objective. There is still time: the SLA's page shows the overdue items and the activity so far.",
        ),
        "sla.recovered" => ("RECOVERED", "The SLA is back on track. Nothing to do."),
        "sla.data_stale" => (
            "DATA STALE",
            "No activity of the kinds this SLA reads has arrived for a while. Check the sync from the CRM or marketing system: silence is not success.",
        ),
        "sla.data_resumed" => (
            "DATA RESUMED",
            "Activity of the kinds this SLA reads is arriving again. Periods the silence covered are restated as late events come in. Nothing to do.",
        ),
        "sla.backfilled" => (
            "HISTORY EVALUATED",
            "Periods that ended before this version was signed were evaluated once, as history. Their breaches are recorded as historical: listed with the SLA's breaches, never reminded. Nothing is due on them.",
        ),
        "sla.evaluation_failed" => (
            "EVALUATION FAILED",
            "accord cannot evaluate this SLA; the others go on. Its status reads error with the reason until an evaluation succeeds again. An admin fixes the cause (the reason names it), or the heads revise the SLA.",
        ),
        "sla.proposed" => (
            "PROPOSED",
            "An agreement awaits your signature. A head of each team reviews it on the SLA's page and approves it, or rejects it with a reason.",
        ),
        "sla.activated" => (
            "ACTIVE",
            "Both heads have signed. The agreement is in force and will be evaluated on schedule.",
        ),
        _ => ("NOTICE", ""),
    };
    Words { label, next }
}

/// A rendered mail.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// Several messages to one team at once: the breaches one evaluation cycle found, or a team's
/// daily digest of at-risk messages and reminders.
#[derive(Clone, Debug)]
pub struct Summary {
    /// `breach.summary` or `digest.daily`.
    pub kind: &'static str,
    /// The team it goes to (slug).
    pub team: String,
    /// What it covers, for the subject: `3 breaches` or `Tue 1 Dec 2026`.
    pub title: String,
    /// Each message, in the order found.
    pub items: Vec<MessageFacts>,
    /// The board.
    pub board: String,
}

impl Summary {
    /// `[accord] 3 BREACHES for sales` / `[accord] DAILY DIGEST for sales: Tue 1 Dec 2026`.
    pub fn subject(&self) -> String {
        match self.kind {
            "breach.summary" => format!(
                "[accord] {} BREACHES for {}: {}",
                self.items.len(),
                self.team,
                self.title
            ),
            _ => format!("[accord] DAILY DIGEST for {}: {}", self.team, self.title),
        }
    }

    /// The opening sentence.
    pub fn intro(&self) -> String {
        match self.kind {
            "breach.summary" => format!(
                "accord found {} breaches of agreements {} is a party to. Each has its own page: a head of either team acknowledges it there, the provider's head may dispute it.",
                self.items.len(),
                self.team
            ),
            _ => format!(
                "What needed {}'s attention since the last digest: {} message(s) about agreements at risk and breaches nobody has acknowledged.",
                self.team,
                self.items.len()
            ),
        }
    }
}

/// One message or a summary of several: what the outbox renders for every channel.
#[derive(Clone, Debug)]
// Built once per cause and rendered right away; never stored in bulk.
#[allow(clippy::large_enum_variant)]
pub enum Message {
    /// One message about one SLA.
    One(MessageFacts),
    /// Several, to one team.
    Many(Summary),
}

#[derive(Template)]
#[template(path = "mail/message.txt")]
struct OneText<'a> {
    f: &'a MessageFacts,
}

#[derive(Template)]
#[template(path = "mail/message.html")]
struct OneHtml<'a> {
    f: &'a MessageFacts,
}

#[derive(Template)]
#[template(path = "mail/summary.txt")]
struct ManyText<'a> {
    s: &'a Summary,
}

#[derive(Template)]
#[template(path = "mail/summary.html")]
struct ManyHtml<'a> {
    s: &'a Summary,
}

impl Message {
    /// What it is about (`breach.opened`, `breach.summary`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::One(f) => f.kind,
            Self::Many(s) => s.kind,
        }
    }

    /// The mail subject, also the chat fallback text.
    pub fn subject(&self) -> String {
        match self {
            Self::One(f) => f.subject(),
            Self::Many(s) => s.subject(),
        }
    }

    /// The mail: subject, text and HTML.
    pub fn mail(&self) -> Rendered {
        // The templates are checked at compile time; rendering into a String cannot fail.
        let (text, html) = match self {
            Self::One(f) => (
                OneText { f }.render().unwrap_or_default(),
                OneHtml { f }.render().unwrap_or_default(),
            ),
            Self::Many(s) => (
                ManyText { s }.render().unwrap_or_default(),
                ManyHtml { s }.render().unwrap_or_default(),
            ),
        };
        Rendered {
            subject: self.subject(),
            text,
            html,
        }
    }

    /// A Slack incoming-webhook body (`text` plus `blocks`), within Block Kit's limits.
    pub fn slack(&self) -> serde_json::Value {
        let mut message = SlackMessage::new(&self.subject());
        match self {
            Self::One(f) => {
                message.header(&format!("{}: {}", f.label(), f.sla_name));
                slack_facts(&mut message, f);
            }
            Self::Many(s) => {
                message.header(&s.subject().replacen("[accord] ", "", 1));
                message.section(&chat::escape(&s.intro()));
                let lines: Vec<chat::Line> = s
                    .items
                    .iter()
                    .map(|f| chat::Line {
                        text: format!(
                            "*{}* {}\n{}",
                            chat::escape(f.label()),
                            chat::escape(&format!(
                                "{} ({} → {}), {}",
                                f.sla_name,
                                f.provider,
                                f.consumer,
                                f.period.short()
                            )),
                            chat::escape(&f.reading.sentence)
                        ),
                        button: Some((f.main_link_text().to_string(), f.main_link().to_string())),
                    })
                    .collect();
                message.list(&lines, 0, &s.board);
            }
        }
        message.into_json(false)
    }

    /// A Microsoft Teams incoming-webhook body: one Adaptive Card 1.4.
    pub fn teams(&self) -> serde_json::Value {
        let mut card = chat::AdaptiveCard::default();
        match self {
            Self::One(f) => {
                card.title(&format!("{}: {}", f.label(), f.sla_name));
                card.text(&format!("{} → {}. {}", f.provider, f.consumer, f.promise));
                card.facts(&[
                    ("Period", f.period.full()),
                    ("Measured", f.reading.sentence.clone()),
                    ("Target", f.reading.target.clone()),
                    ("Version", f.version.to_string()),
                ]);
                if let Some(extra) = &f.extra {
                    card.text(extra);
                }
                if let Some(pace) = &f.evidence.pace {
                    card.text(pace);
                }
                if !f.evidence.missed.is_empty() {
                    card.list("Missed", &f.evidence.missed, f.evidence.more);
                }
                card.text(&format!("**What to do next:** {}", f.next()));
                if let Some(breach) = &f.links.breach {
                    card.open_url("Open the breach", breach);
                }
                card.open_url("Open the SLA", &f.links.sla);
            }
            Self::Many(s) => {
                card.title(&s.subject().replacen("[accord] ", "", 1));
                card.text(&s.intro());
                let lines: Vec<String> = s
                    .items
                    .iter()
                    .map(|f| {
                        format!(
                            "**{}** [{}]({}): {}",
                            f.label(),
                            chat::markdown_text(&format!(
                                "{} ({} → {}), {}",
                                f.sla_name,
                                f.provider,
                                f.consumer,
                                f.period.short()
                            )),
                            f.main_link(),
                            f.reading.sentence
                        )
                    })
                    .collect();
                card.list("", &lines, 0);
                card.open_url("Open the board", &s.board);
            }
        }
        card.into_message()
    }

    /// The generic webhook body, `{type, timestamp, data}` (Standard Webhooks); `timestamp` is
    /// when the message was written (RFC 3339).
    pub fn generic(&self, timestamp: &str) -> serde_json::Value {
        let data = match self {
            Self::One(f) => generic_data(f),
            Self::Many(s) => json!({
                "team": s.team,
                "title": s.title,
                "subject": s.subject(),
                "board_url": s.board,
                "items": s.items.iter().map(|f| json!({"type": f.kind, "data": generic_data(f)})).collect::<Vec<_>>(),
            }),
        };
        json!({"type": self.kind(), "timestamp": timestamp, "data": data})
    }
}

/// Every kind a message about one SLA has.
pub const KINDS: [&str; 14] = [
    "breach.opened",
    "breach.reminder",
    "breach.acknowledged",
    "breach.disputed",
    "breach.resolved",
    "breach.withdrawn",
    "sla.at_risk",
    "sla.recovered",
    "sla.data_stale",
    "sla.data_resumed",
    "sla.backfilled",
    "sla.evaluation_failed",
    "sla.proposed",
    "sla.activated",
];

impl MessageFacts {
    /// The facts as the generic webhook's `data` carries them (and as a held message keeps them).
    pub fn data(&self) -> serde_json::Value {
        generic_data(self)
    }

    /// The facts back from [`Self::data`]; `board` is the board's page.
    pub fn from_data(kind: &str, data: &serde_json::Value, board: &str) -> Option<Self> {
        let kind = KINDS.into_iter().find(|k| *k == kind)?;
        let text = |value: &serde_json::Value| value.as_str().map(str::to_string);
        let sla = &data["sla"];
        let period = &data["period"];
        let reading = &data["reading"];
        let evidence = &data["evidence"];
        Some(Self {
            kind,
            sla_key: text(&sla["key"])?,
            sla_name: text(&sla["name"])?,
            provider: text(&sla["provider"])?,
            consumer: text(&sla["consumer"])?,
            promise: text(&sla["promise"])?,
            period: PeriodName {
                label: text(&period["label"])?,
                dates: text(&period["dates"])?,
                zone: text(&period["zone"])?,
                code: text(&period["code"])?,
            },
            reading: Reading {
                value: text(&reading["value"])?,
                sentence: text(&reading["sentence"])?,
                target: text(&reading["target"])?,
                met: reading["met"].as_bool(),
            },
            version: sla["version"]
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())?,
            breach_id: text(&data["breach"]["id"]),
            evidence: EvidenceLines {
                missed: evidence["missed"]
                    .as_array()
                    .map(|lines| lines.iter().filter_map(text).collect())
                    .unwrap_or_default(),
                more: evidence["more"]
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0),
                pace: text(&evidence["pace"]),
            },
            links: MessageLinks {
                sla: text(&sla["url"])?,
                breach: text(&data["breach"]["url"]),
                board: board.to_string(),
            },
            extra: text(&data["note"]),
        })
    }
}

fn generic_data(f: &MessageFacts) -> serde_json::Value {
    json!({
        "subject": f.subject(),
        "status": f.label(),
        "sla": {
            "key": f.sla_key,
            "name": f.sla_name,
            "provider": f.provider,
            "consumer": f.consumer,
            "promise": f.promise,
            "version": f.version,
            "url": f.links.sla,
        },
        "period": {
            "label": f.period.label,
            "dates": f.period.dates,
            "zone": f.period.zone,
            "code": f.period.code,
        },
        "reading": {
            "value": f.reading.value,
            "sentence": f.reading.sentence,
            "target": f.reading.target,
            "met": f.reading.met,
        },
        "breach": f.breach_id.as_ref().map(|id| json!({"id": id, "url": f.links.breach})),
        "evidence": {
            "missed": f.evidence.missed,
            "more": f.evidence.more,
            "pace": f.evidence.pace,
        },
        "note": f.extra,
        "next": f.next(),
    })
}

fn slack_facts(message: &mut SlackMessage, f: &MessageFacts) {
    message.section(&format!(
        "*{}* → *{}*: {}",
        chat::escape(&f.provider),
        chat::escape(&f.consumer),
        chat::escape(&f.promise)
    ));
    message.fields(&[
        ("Period", f.period.full()),
        ("Measured", f.reading.sentence.clone()),
        ("Target", f.reading.target.clone()),
        ("Version", f.version.to_string()),
    ]);
    if let Some(extra) = &f.extra {
        message.section(&chat::escape(extra));
    }
    if let Some(pace) = &f.evidence.pace {
        message.section(&chat::escape(pace));
    }
    if !f.evidence.missed.is_empty() {
        message.section("*Missed*");
        let lines: Vec<chat::Line> = f
            .evidence
            .missed
            .iter()
            .map(|l| chat::Line {
                text: format!("• {}", chat::escape(l)),
                button: None,
            })
            .collect();
        message.list(&lines, f.evidence.more, f.main_link());
    }
    message.section(&format!("*What to do next:* {}", chat::escape(f.next())));
    let mut buttons = Vec::new();
    if let Some(breach) = &f.links.breach {
        buttons.push(("Open the breach".to_string(), breach.clone()));
    }
    buttons.push(("Open the SLA".to_string(), f.links.sla.clone()));
    message.buttons(&buttons);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A breach of a response-time SLA with 23 missed leads, fixed ids and dates.
    pub(crate) fn facts(kind: &'static str) -> MessageFacts {
        MessageFacts {
            kind,
            sla_key: "lead-response".into(),
            sla_name: "Lead response <fast> & fair".into(),
            provider: "sales".into(),
            consumer: "marketing".into(),
            promise: "Sales answers 90 % of lead.handed_off within 4 business hours (calendar emea), each week, Europe/Berlin".into(),
            period: PeriodName {
                label: "week 46 of 2026".into(),
                dates: "Mon 9 – Sun 15 Nov 2026".into(),
                zone: "Europe/Berlin".into(),
                code: "2026-W46".into(),
            },
            reading: Reading {
                value: "61.3 %".into(),
                sentence: "61.3 % of 31 leads answered within 4 business hours (19 in time, 5 late, 7 unanswered)".into(),
                target: "at least 90 %".into(),
                met: Some(false),
            },
            version: 2,
            breach_id: Some("019a0000-0000-7000-8000-000000000001".into()),
            evidence: EvidenceLines {
                missed: (1..=20)
                    .map(|i| format!("lead-{i:04}: answered {i} h late (due Tue 10 Nov 2026, 14:00)"))
                    .collect(),
                more: 3,
                pace: None,
            },
            links: MessageLinks {
                sla: "https://accord.example.com/slas/lead-response".into(),
                breach: Some(
                    "https://accord.example.com/breaches/019a0000-0000-7000-8000-000000000001"
                        .into(),
                ),
                board: "https://accord.example.com/".into(),
            },
            extra: None,
        }
    }

    /// A count SLA at risk: no breach, a pace line, no missed leads.
    pub(crate) fn at_risk() -> MessageFacts {
        MessageFacts {
            kind: "sla.at_risk",
            sla_key: "mql-volume".into(),
            sla_name: "MQL volume".into(),
            provider: "marketing".into(),
            consumer: "sales".into(),
            promise:
                "Marketing delivers at least 20 lead.qualified events each month, Europe/Berlin"
                    .into(),
            period: PeriodName {
                label: "November 2026".into(),
                dates: "Sun 1 – Mon 30 Nov 2026".into(),
                zone: "Europe/Berlin".into(),
                code: "2026-11".into(),
            },
            reading: Reading {
                value: "9".into(),
                sentence: "9 lead.qualified events".into(),
                target: "at least 20".into(),
                met: None,
            },
            version: 1,
            breach_id: None,
            evidence: EvidenceLines {
                missed: Vec::new(),
                more: 0,
                pace: Some("9 so far; at this pace 14 by the end, target at least 20".into()),
            },
            links: MessageLinks {
                sla: "https://accord.example.com/slas/mql-volume".into(),
                breach: None,
                board: "https://accord.example.com/".into(),
            },
            extra: None,
        }
    }

    #[test]
    fn the_subject_names_status_sla_teams_and_period() {
        let mut f = at_risk();
        f.kind = "breach.opened";
        assert_eq!(
            f.subject(),
            "[accord] BREACHED: MQL volume (marketing → sales), November 2026 (2026-11)"
        );
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let mut f = facts("breach.disputed");
        f.extra = Some("Disputed by head@sales.example: <script>alert(1)</script>".into());
        let mail = Message::One(f).mail();
        assert!(!mail.html.contains("<script>"), "{}", mail.html);
        assert!(mail.html.contains("&#60;script&#62;"));
        assert!(mail.text.contains("<script>alert(1)</script>"));
        assert!(mail.text.contains("Lead response <fast> & fair"));
    }

    fn summary(kind: &'static str, n: usize, name_len: usize) -> Summary {
        let items = (0..n)
            .map(|i| {
                let mut f = if i % 2 == 0 {
                    facts("breach.opened")
                } else {
                    at_risk()
                };
                if kind == "breach.summary" {
                    f.kind = "breach.opened";
                    f.breach_id = Some(format!("b-{i:03}"));
                }
                f.sla_key = format!("sla-{i:03}");
                if name_len > 0 {
                    f.sla_name = format!("{i:03} {}", "N".repeat(name_len - 4));
                }
                f.links.sla = format!("https://accord.example.com/slas/sla-{i:03}");
                f.links.breach = f
                    .breach_id
                    .as_ref()
                    .map(|_| format!("https://accord.example.com/breaches/b-{i:03}"));
                f
            })
            .collect();
        Summary {
            kind,
            team: "sales".into(),
            title: if kind == "breach.summary" {
                "evaluated Mon 16 Nov 2026, 09:00 UTC".into()
            } else {
                "Tue 17 Nov 2026".into()
            },
            items,
            board: "https://accord.example.com/".into(),
        }
    }

    fn pretty(value: &serde_json::Value) -> String {
        serde_json::to_string_pretty(value).unwrap_or_default()
    }

    /// Every message type on every channel, from fixed inputs.
    #[test]
    fn every_message_type_on_every_channel() {
        let mut disputed = facts("breach.disputed");
        disputed.evidence = EvidenceLines::default();
        disputed.extra =
            Some("Disputed by head@sales.example.com: the CRM lost a day of data".into());
        let messages = [
            ("breach_opened", Message::One(facts("breach.opened"))),
            ("breach_reminder", Message::One(facts("breach.reminder"))),
            ("breach_disputed", Message::One(disputed)),
            ("sla_at_risk", Message::One(at_risk())),
            (
                "breach_summary",
                Message::Many(summary("breach.summary", 3, 0)),
            ),
            ("digest_daily", Message::Many(summary("digest.daily", 2, 0))),
        ];
        for (name, message) in messages {
            let mail = message.mail();
            insta::assert_snapshot!(
                format!("{name}__mail_text"),
                format!("Subject: {}\n\n{}", mail.subject, mail.text)
            );
            insta::assert_snapshot!(format!("{name}__mail_html"), mail.html);
            insta::assert_snapshot!(format!("{name}__slack"), pretty(&message.slack()));
            insta::assert_snapshot!(format!("{name}__teams"), pretty(&message.teams()));
            insta::assert_snapshot!(
                format!("{name}__generic"),
                pretty(&message.generic("2026-11-16T09:00:00Z"))
            );
        }
    }

    #[test]
    fn facts_survive_being_held() {
        let f = facts("breach.opened");
        let back = MessageFacts::from_data(f.kind, &f.data(), &f.links.board).unwrap();
        assert_eq!(Message::One(back).mail(), Message::One(f).mail());
    }

    #[test]
    fn slack_and_teams_keep_their_limits_with_200_slas_of_200_characters() {
        let mut long = facts("breach.opened");
        long.sla_name = "L".repeat(200);
        long.promise = "P".repeat(3500);
        long.extra = Some("&<>".repeat(1200));
        for message in [
            Message::One(long),
            Message::Many(summary("breach.summary", 200, 200)),
            Message::Many(summary("digest.daily", 200, 200)),
        ] {
            let slack = message.slack();
            let problems = chat::slack_violations(&slack);
            assert!(problems.is_empty(), "{problems:?}");
            let teams = message.teams();
            assert!(
                teams.to_string().len() <= chat::MAX_CARD_BYTES,
                "{} bytes",
                teams.to_string().len()
            );
            if let Message::Many(s) = &message {
                let blocks = slack["blocks"].as_array().map(Vec::len).unwrap_or(0);
                assert_eq!(blocks, chat::MAX_BLOCKS.min(blocks), "{blocks}");
                let text = slack.to_string();
                assert!(
                    text.contains("more: <https://accord.example.com/|see them all>"),
                    "{}",
                    s.kind
                );
            }
        }
    }
}
