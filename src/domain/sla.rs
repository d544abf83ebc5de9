//! SLA definitions: what is measured, against which objective, over which window.
//!
//! A definition is parsed once from what the client wrote ([`DefinitionInput`]), with every
//! problem named by its field, into the canonical [`Definition`] that is stored and returned.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::FieldErrors;
use super::calendar::parse_timezone;
use super::duration::Span;
use super::period::{Period, PeriodKind};
use super::validate;

/// Whether `kind` is a valid event kind: `^[a-z][a-z0-9_.-]{0,63}$`.
pub fn is_event_kind(kind: &str) -> bool {
    let mut chars = kind.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && kind.len() <= 64
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Which events count: exact string matches, all keys ANDed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Only events logged by this team (slug).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Attribute → accepted values (any of them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// An event kind and an optional filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    /// The event kind, e.g. `lead.qualified`.
    pub event: String,
    /// Narrows the events of that kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
}

/// What an SLA measures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Metric {
    /// Number of matching events in the period.
    Count {
        /// The event kind.
        event: String,
        /// Narrows the events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<Filter>,
    },
    /// Percentage of starts answered by a stop within the threshold.
    ResponseTime {
        /// The event that starts the clock.
        start: Selector,
        /// The event that stops it (same subject, at or after the start).
        stop: Selector,
        /// How long an answer may take.
        threshold: Span,
        /// Business-hours calendar key: only business time counts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        calendar: Option<String>,
        /// The event that pauses the clock for a subject.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pause: Option<Selector>,
        /// The event that restarts it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<Selector>,
    },
    /// Numerator count ÷ denominator count.
    Ratio {
        /// Counted above the line.
        numerator: Selector,
        /// Counted below the line.
        denominator: Selector,
    },
}

impl Metric {
    /// The name of the kind, as written.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Count { .. } => "count",
            Self::ResponseTime { .. } => "response_time",
            Self::Ratio { .. } => "ratio",
        }
    }

    /// The calendar this metric uses, if any.
    pub fn calendar(&self) -> Option<&str> {
        match self {
            Self::ResponseTime { calendar, .. } => calendar.as_deref(),
            _ => None,
        }
    }

    /// Team slugs named in filters.
    pub fn filter_teams(&self) -> Vec<(&'static str, &str)> {
        let selectors: Vec<(&'static str, Option<&Filter>)> = match self {
            Self::Count { filter, .. } => vec![("metric.filter.team", filter.as_ref())],
            Self::ResponseTime {
                start,
                stop,
                pause,
                resume,
                ..
            } => vec![
                ("metric.start.filter.team", start.filter.as_ref()),
                ("metric.stop.filter.team", stop.filter.as_ref()),
                (
                    "metric.pause.filter.team",
                    pause.as_ref().and_then(|s| s.filter.as_ref()),
                ),
                (
                    "metric.resume.filter.team",
                    resume.as_ref().and_then(|s| s.filter.as_ref()),
                ),
            ],
            Self::Ratio {
                numerator,
                denominator,
            } => vec![
                ("metric.numerator.filter.team", numerator.filter.as_ref()),
                (
                    "metric.denominator.filter.team",
                    denominator.filter.as_ref(),
                ),
            ],
        };
        selectors
            .into_iter()
            .filter_map(|(field, f)| Some((field, f?.team.as_deref()?)))
            .collect()
    }
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// At least.
    #[serde(rename = ">=")]
    Ge,
    /// At most.
    #[serde(rename = "<=")]
    Le,
    /// More than.
    #[serde(rename = ">")]
    Gt,
    /// Less than.
    #[serde(rename = "<")]
    Lt,
}

impl Op {
    /// Whether `value op target` holds.
    pub fn holds(self, value: f64, target: f64) -> bool {
        match self {
            Self::Ge => value >= target,
            Self::Le => value <= target,
            Self::Gt => value > target,
            Self::Lt => value < target,
        }
    }

    /// As written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ge => ">=",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Lt => "<",
        }
    }
}

impl FromStr for Op {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            ">=" => Ok(Self::Ge),
            "<=" => Ok(Self::Le),
            ">" => Ok(Self::Gt),
            "<" => Ok(Self::Lt),
            other => Err(format!(
                "unknown operator {other:?}; expected >=, <=, > or <"
            )),
        }
    }
}

/// The promise: `value op target`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    /// The comparison.
    pub op: Op,
    /// A count, a percentage (response time) or a fraction (ratio).
    pub target: f64,
}

/// Over which stretch of time the metric is taken.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Window {
    /// Calendar periods in a time zone.
    Calendar {
        /// Day, week, month or quarter.
        period: PeriodKind,
        /// Where the period boundaries are local midnights.
        timezone: Tz,
    },
    /// The last `length`, checked at every run.
    Rolling {
        /// How far back.
        length: Span,
    },
}

/// Which changes of status, besides breaches, a team wants to hear about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    /// A breach opened (or was withdrawn).
    Breach,
    /// The current period is projected to miss.
    AtRisk,
    /// A period at risk or breached is back on track.
    Recovered,
}

/// A complete, valid SLA definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    /// Public key, e.g. `mql-volume`.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Longer explanation.
    #[serde(default)]
    pub description: Option<String>,
    /// Slug of the team that commits.
    pub provider: String,
    /// Slug of the team that relies on it.
    pub consumer: String,
    /// What is measured.
    pub metric: Metric,
    /// The promise.
    pub objective: Objective,
    /// Over which time.
    pub window: Window,
    /// Which notices the teams get.
    pub notify_on: Vec<Notice>,
    /// First local date covered; by default the period in which it is signed.
    #[serde(default)]
    pub effective_from: Option<NaiveDate>,
}

/// Attribute filter values as written: one string or a list of them.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum AttributeMatch {
    /// One accepted value.
    One(String),
    /// Any of these values.
    Many(Vec<String>),
}

/// A filter as written.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterInput {
    /// Team slug.
    pub team: Option<String>,
    /// Attribute → value or values.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeMatch>,
}

/// An event selector as written.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectorInput {
    /// Event kind.
    pub event: String,
    /// Optional filter.
    pub filter: Option<FilterInput>,
}

/// A metric as written; which fields apply depends on `kind`.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricInput {
    /// `count`, `response_time` or `ratio`.
    pub kind: String,
    /// count: the event kind.
    pub event: Option<String>,
    /// count: the filter.
    pub filter: Option<FilterInput>,
    /// response_time: the start event.
    pub start: Option<SelectorInput>,
    /// response_time: the stop event.
    pub stop: Option<SelectorInput>,
    /// response_time: e.g. `"24h"`.
    pub threshold: Option<String>,
    /// response_time: business-hours calendar key.
    pub calendar: Option<String>,
    /// response_time: the event that pauses the clock.
    pub pause: Option<SelectorInput>,
    /// response_time: the event that restarts it.
    pub resume: Option<SelectorInput>,
    /// ratio: above the line.
    pub numerator: Option<SelectorInput>,
    /// ratio: below the line.
    pub denominator: Option<SelectorInput>,
}

/// An objective as written.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveInput {
    /// `>=`, `<=`, `>` or `<`.
    pub op: String,
    /// The number to compare with.
    pub target: f64,
}

/// A window as written.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowInput {
    /// `calendar` or `rolling`.
    pub kind: String,
    /// calendar: `day`, `week`, `month` or `quarter`.
    pub period: Option<String>,
    /// calendar: IANA time zone.
    pub timezone: Option<String>,
    /// rolling: e.g. `"7d"`.
    pub length: Option<String>,
}

/// An SLA definition as a client writes it.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefinitionInput {
    /// Public key; in a revision, may be left out.
    pub key: Option<String>,
    /// Display name.
    pub name: String,
    /// Longer explanation.
    pub description: Option<String>,
    /// Slug of the team that commits.
    pub provider: String,
    /// Slug of the team that relies on it.
    pub consumer: String,
    /// What is measured.
    pub metric: MetricInput,
    /// The promise.
    pub objective: ObjectiveInput,
    /// Over which time.
    pub window: WindowInput,
    /// Notices besides breaches: `breach`, `at_risk`, `recovered` (default `["breach"]`).
    pub notify_on: Option<Vec<String>>,
    /// First local date covered, `YYYY-MM-DD`.
    pub effective_from: Option<String>,
}

struct Checker {
    errors: FieldErrors,
}

impl Checker {
    fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors
            .entry(field.into())
            .or_insert_with(|| message.into());
    }

    fn event(&mut self, field: &str, kind: &str) {
        if !is_event_kind(kind) {
            self.fail(field, format!("{kind:?} is not an event kind (lowercase letters, digits, '.', '_', '-'; up to 64)"));
        }
    }

    fn filter(&mut self, field: &str, filter: Option<FilterInput>) -> Option<Filter> {
        let filter = filter?;
        if let Some(Err(e)) = filter.team.as_deref().map(validate::slug) {
            self.fail(format!("{field}.team"), e);
        }
        let attributes = filter
            .attributes
            .into_iter()
            .map(|(key, values)| {
                let values = match values {
                    AttributeMatch::One(value) => vec![value],
                    AttributeMatch::Many(values) => values,
                };
                if values.is_empty() {
                    self.fail(
                        format!("{field}.attributes.{key}"),
                        "list at least one value",
                    );
                }
                (key, values)
            })
            .collect();
        Some(Filter {
            team: filter.team,
            attributes,
        })
    }

    fn selector(&mut self, field: &str, selector: Option<SelectorInput>) -> Option<Selector> {
        let Some(selector) = selector else {
            self.fail(field, "is required for this metric kind");
            return None;
        };
        self.event(&format!("{field}.event"), &selector.event);
        let filter = self.filter(&format!("{field}.filter"), selector.filter);
        Some(Selector {
            event: selector.event,
            filter,
        })
    }

    fn unused<T>(&mut self, field: &str, value: &Option<T>, kind: &str) {
        if value.is_some() {
            self.fail(field, format!("is not used by a {kind} metric"));
        }
    }

    fn metric(&mut self, input: MetricInput) -> Option<Metric> {
        let kind = input.kind.as_str();
        match kind {
            "count" => {
                for (field, set) in [
                    ("metric.start", input.start.is_some()),
                    ("metric.stop", input.stop.is_some()),
                    ("metric.threshold", input.threshold.is_some()),
                    ("metric.calendar", input.calendar.is_some()),
                    ("metric.pause", input.pause.is_some()),
                    ("metric.resume", input.resume.is_some()),
                    ("metric.numerator", input.numerator.is_some()),
                    ("metric.denominator", input.denominator.is_some()),
                ] {
                    self.unused(field, &set.then_some(()), kind);
                }
                let Some(event) = input.event else {
                    self.fail("metric.event", "is required for a count metric");
                    return None;
                };
                self.event("metric.event", &event);
                let filter = self.filter("metric.filter", input.filter);
                Some(Metric::Count { event, filter })
            }
            "response_time" => {
                self.unused("metric.event", &input.event, kind);
                self.unused("metric.filter", &input.filter, kind);
                self.unused("metric.numerator", &input.numerator, kind);
                self.unused("metric.denominator", &input.denominator, kind);
                let start = self.selector("metric.start", input.start);
                let stop = self.selector("metric.stop", input.stop);
                let threshold = match input.threshold.as_deref().map(str::parse::<Span>) {
                    Some(Ok(span)) => Some(span),
                    Some(Err(e)) => {
                        self.fail("metric.threshold", e);
                        None
                    }
                    None => {
                        self.fail(
                            "metric.threshold",
                            "is required for a response_time metric, e.g. \"24h\"",
                        );
                        None
                    }
                };
                if let Some(Err(e)) = input.calendar.as_deref().map(validate::slug) {
                    self.fail("metric.calendar", e);
                }
                let pause = input.pause.map(|p| self.selector("metric.pause", Some(p)));
                let resume = input
                    .resume
                    .map(|r| self.selector("metric.resume", Some(r)));
                if pause.is_some() != resume.is_some() {
                    let missing = if pause.is_some() {
                        "metric.resume"
                    } else {
                        "metric.pause"
                    };
                    self.fail(missing, "pause and resume come together");
                }
                Some(Metric::ResponseTime {
                    start: start?,
                    stop: stop?,
                    threshold: threshold?,
                    calendar: input.calendar,
                    pause: pause.flatten(),
                    resume: resume.flatten(),
                })
            }
            "ratio" => {
                self.unused("metric.event", &input.event, kind);
                self.unused("metric.filter", &input.filter, kind);
                self.unused("metric.start", &input.start, kind);
                self.unused("metric.stop", &input.stop, kind);
                self.unused("metric.threshold", &input.threshold, kind);
                self.unused("metric.calendar", &input.calendar, kind);
                self.unused("metric.pause", &input.pause, kind);
                self.unused("metric.resume", &input.resume, kind);
                let numerator = self.selector("metric.numerator", input.numerator);
                let denominator = self.selector("metric.denominator", input.denominator);
                Some(Metric::Ratio {
                    numerator: numerator?,
                    denominator: denominator?,
                })
            }
            other => {
                self.fail(
                    "metric.kind",
                    format!(
                        "unknown metric kind {other:?}; expected count, response_time or ratio"
                    ),
                );
                None
            }
        }
    }

    fn objective(&mut self, input: &ObjectiveInput, kind: &str) -> Option<Objective> {
        let op = input
            .op
            .parse::<Op>()
            .map_err(|e| self.fail("objective.op", e))
            .ok();
        let target = input.target;
        let range = match kind {
            _ if !target.is_finite() => Some("a finite number"),
            "count" if target < 0.0 => Some("a count of at least 0"),
            "response_time" if !(0.0..=100.0).contains(&target) => {
                Some("a percentage between 0 and 100")
            }
            "ratio" if !(0.0..=1.0).contains(&target) => Some("a fraction between 0 and 1"),
            _ => None,
        };
        if let Some(expected) = range {
            self.fail(
                "objective.target",
                format!("{target} is outside what a {kind} metric can take: expected {expected}"),
            );
            return None;
        }
        Some(Objective { op: op?, target })
    }

    fn window(&mut self, input: WindowInput) -> Option<Window> {
        match input.kind.as_str() {
            "calendar" => {
                if input.length.is_some() {
                    self.fail("window.length", "is not used by a calendar window");
                }
                let period = match input.period.as_deref().map(str::parse::<PeriodKind>) {
                    Some(Ok(period)) => Some(period),
                    Some(Err(e)) => {
                        self.fail("window.period", e);
                        None
                    }
                    None => {
                        self.fail("window.period", "is required: day, week, month or quarter");
                        None
                    }
                };
                let timezone = match input.timezone.as_deref().map(parse_timezone) {
                    Some(Ok(tz)) => Some(tz),
                    Some(Err(e)) => {
                        self.fail("window.timezone", e);
                        None
                    }
                    None => {
                        self.fail("window.timezone", "is required, e.g. Europe/Berlin");
                        None
                    }
                };
                Some(Window::Calendar {
                    period: period?,
                    timezone: timezone?,
                })
            }
            "rolling" => {
                if input.period.is_some() {
                    self.fail("window.period", "is not used by a rolling window");
                }
                if input.timezone.is_some() {
                    self.fail("window.timezone", "is not used by a rolling window");
                }
                match input.length.as_deref().map(str::parse::<Span>) {
                    Some(Ok(length)) => Some(Window::Rolling { length }),
                    Some(Err(e)) => {
                        self.fail("window.length", e);
                        None
                    }
                    None => {
                        self.fail(
                            "window.length",
                            "is required for a rolling window, e.g. \"7d\"",
                        );
                        None
                    }
                }
            }
            other => {
                self.fail(
                    "window.kind",
                    format!("unknown window kind {other:?}; expected calendar or rolling"),
                );
                None
            }
        }
    }
}

impl DefinitionInput {
    /// Checks every field that needs no database; `key` is the SLA's key (body or path).
    pub fn parse(self, key: &str) -> Result<Definition, FieldErrors> {
        let mut check = Checker {
            errors: FieldErrors::new(),
        };
        if let Err(e) = validate::slug(key) {
            check.fail("key", e);
        }
        if let Err(e) = validate::name(&self.name) {
            check.fail("name", e);
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 4000)
        {
            check.fail("description", "must be at most 4000 characters");
        }
        for (field, slug) in [("provider", &self.provider), ("consumer", &self.consumer)] {
            if let Err(e) = validate::slug(slug) {
                check.fail(field, e);
            }
        }
        if self.provider == self.consumer {
            check.fail("consumer", "must be another team than the provider");
        }
        let kind = self.metric.kind.clone();
        let metric = check.metric(self.metric);
        let objective = check.objective(&self.objective, &kind);
        let window = check.window(self.window);
        let mut notify_on = Vec::new();
        for (i, notice) in self
            .notify_on
            .unwrap_or_else(|| vec!["breach".into()])
            .iter()
            .enumerate()
        {
            match notice.as_str() {
                "breach" => notify_on.push(Notice::Breach),
                "at_risk" => notify_on.push(Notice::AtRisk),
                "recovered" => notify_on.push(Notice::Recovered),
                other => check.fail(
                    format!("notify_on[{i}]"),
                    format!("unknown notice {other:?}; expected breach, at_risk or recovered"),
                ),
            }
        }
        notify_on.sort();
        notify_on.dedup();
        let effective_from = match self
            .effective_from
            .as_deref()
            .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d"))
        {
            Some(Ok(date)) => Some(date),
            Some(Err(_)) => {
                check.fail("effective_from", "must be a date, YYYY-MM-DD");
                None
            }
            None => None,
        };
        match (metric, objective, window) {
            (Some(metric), Some(objective), Some(window)) if check.errors.is_empty() => {
                Ok(Definition {
                    key: key.into(),
                    name: self.name.trim().into(),
                    description: self.description,
                    provider: self.provider,
                    consumer: self.consumer,
                    metric,
                    objective,
                    window,
                    notify_on,
                    effective_from,
                })
            }
            _ => Err(check.errors),
        }
    }
}

impl Definition {
    /// The start of the period of `effective_from`, when one is asked for: a calendar window's
    /// period containing that local date, a rolling window's midnight UTC of that date.
    fn requested_start(&self) -> Option<DateTime<Utc>> {
        let date = self.effective_from?;
        Some(match &self.window {
            Window::Calendar { period, timezone } => {
                Period::of_date(*period, *timezone, date).start
            }
            Window::Rolling { .. } => date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
        })
    }

    /// The first boundary of this window's periods at or after `at` (a rolling window has one at
    /// every instant).
    pub fn boundary_from(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        match &self.window {
            Window::Calendar { period, timezone } => {
                let containing = Period::containing(*period, *timezone, at);
                if containing.start == at {
                    at
                } else {
                    containing.end
                }
            }
            Window::Rolling { .. } => at,
        }
    }

    /// Where the judging in progress at `at` ends: the end of the calendar period containing
    /// `at`; a rolling window at `at` itself.
    pub fn end_of_period_at(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        match &self.window {
            Window::Calendar { period, timezone } => Period::containing(*period, *timezone, at).end,
            Window::Rolling { .. } => at,
        }
    }

    /// Where a version with this definition, signed at `signed_at`, takes over.
    ///
    /// A first version (`previous` is `None`) starts with the period of `effective_from`, or the
    /// period it is signed in. A revision replaces `previous` (its definition and the instant it
    /// began to govern): the old version judges to the end of its period in which the revision
    /// was signed, and not at all if it had not begun; the new one starts at its own first
    /// period boundary from there, or at `effective_from` if later. No instant is judged by both;
    /// what lies between (less than one new period) by neither. A rolling old version has no
    /// period to finish: it judges until the new one starts, leaving no gap.
    pub fn takes_effect(
        &self,
        signed_at: DateTime<Utc>,
        previous: Option<(&Definition, DateTime<Utc>)>,
    ) -> Switch {
        let requested = self.requested_start();
        let Some((old, old_from)) = previous else {
            let from = requested.unwrap_or_else(|| match &self.window {
                Window::Calendar { period, timezone } => {
                    Period::containing(*period, *timezone, signed_at).start
                }
                Window::Rolling { .. } => signed_at,
            });
            return Switch {
                old_until: None,
                from,
            };
        };
        let old_until = if signed_at < old_from {
            old_from
        } else {
            old.end_of_period_at(signed_at)
        };
        let boundary = self.boundary_from(old_until);
        let from = requested.map_or(boundary, |r| r.max(boundary));
        // A rolling window has no period to finish: it goes on judging until its successor starts.
        let rolling = matches!(old.window, Window::Rolling { .. }) && signed_at >= old_from;
        Switch {
            old_until: Some(if rolling { from } else { old_until }),
            from,
        }
    }
}

/// Where one version hands over to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switch {
    /// The first instant the old version no longer governs (`None` without an old version).
    pub old_until: Option<DateTime<Utc>>,
    /// The first instant the new version governs.
    pub from: DateTime<Utc>,
}

/// Where an agreement stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SlaStatus {
    /// The first version awaits signatures.
    Proposed,
    /// A signed version governs (a revision may await signatures meanwhile).
    Active,
    /// The first version was rejected.
    Rejected,
    /// No longer in force.
    Retired,
}

/// Where one version stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionStatus {
    /// Awaiting signatures.
    Proposed,
    /// Signed by both parties; governs its effective range.
    Active,
    /// Replaced: by a later signed version (its range then ends), or by a newer proposal before it was signed.
    Superseded,
    /// Refused by a party.
    Rejected,
    /// Was in force when the SLA was retired.
    Retired,
}

macro_rules! text_enum {
    ($ty:ty { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $ty {
            /// The stored and serialized name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(value: &str) -> Result<Self, String> {
                match value {
                    $($text => Ok(Self::$variant),)*
                    other => Err(format!("unknown status {other:?}")),
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(SlaStatus { Proposed => "proposed", Active => "active", Rejected => "rejected", Retired => "retired" });
text_enum!(VersionStatus {
    Proposed => "proposed",
    Active => "active",
    Superseded => "superseded",
    Rejected => "rejected",
    Retired => "retired",
});

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: serde_json::Value) -> DefinitionInput {
        serde_json::from_value(value).unwrap()
    }

    fn count_sla() -> serde_json::Value {
        json!({"key": "mql-volume", "name": "MQLs per month", "provider": "marketing", "consumer": "sales",
               "metric": {"kind": "count", "event": "lead.qualified", "filter": {"attributes": {"source": ["webinar", "ads"]}}},
               "objective": {"op": ">=", "target": 400},
               "window": {"kind": "calendar", "period": "month", "timezone": "Europe/Berlin"}})
    }

    #[test]
    fn parses_and_round_trips_a_definition() {
        let definition = input(count_sla()).parse("mql-volume").unwrap();
        assert_eq!(definition.notify_on, vec![Notice::Breach]);
        let stored = serde_json::to_value(&definition).unwrap();
        assert_eq!(stored["window"]["timezone"], "Europe/Berlin");
        assert_eq!(
            stored["metric"]["filter"]["attributes"]["source"],
            json!(["webinar", "ads"])
        );
        let back: Definition = serde_json::from_value(stored).unwrap();
        assert_eq!(back, definition);
    }

    #[test]
    fn names_every_bad_field() {
        let mut bad = count_sla();
        bad["consumer"] = json!("marketing");
        bad["objective"] = json!({"op": "=>", "target": -1});
        bad["window"] =
            json!({"kind": "calendar", "period": "fortnight", "timezone": "Mars/Olympus"});
        bad["notify_on"] = json!(["breach", "always"]);
        bad["effective_from"] = json!("October");
        let errors = input(bad).parse("mql-volume").unwrap_err();
        for field in [
            "consumer",
            "objective.op",
            "objective.target",
            "window.period",
            "window.timezone",
            "notify_on[1]",
            "effective_from",
        ] {
            assert!(errors.contains_key(field), "{field}: {errors:?}");
        }
    }

    #[test]
    fn checks_each_metric_kind() {
        let mut rt = count_sla();
        rt["metric"] = json!({"kind": "response_time", "start": {"event": "lead.handed_off"}, "stop": {"event": "Lead Contacted"},
                              "threshold": "24 hours", "pause": {"event": "lead.on_hold"}, "event": "x"});
        rt["objective"] = json!({"op": ">=", "target": 120});
        let errors = input(rt).parse("follow-up").unwrap_err();
        for field in [
            "metric.stop.event",
            "metric.threshold",
            "metric.resume",
            "metric.event",
            "objective.target",
        ] {
            assert!(errors.contains_key(field), "{field}: {errors:?}");
        }
        let mut ratio = count_sla();
        ratio["metric"] = json!({"kind": "ratio", "numerator": {"event": "lead.converted"}, "denominator": {"event": "lead.qualified"}});
        ratio["objective"] = json!({"op": ">=", "target": 25});
        assert!(
            input(ratio).parse("conversion").unwrap_err()["objective.target"].contains("fraction")
        );
        let mut unknown = count_sla();
        unknown["metric"] = json!({"kind": "median", "event": "x"});
        assert!(
            input(unknown)
                .parse("x")
                .unwrap_err()
                .contains_key("metric.kind")
        );
    }

    #[test]
    fn a_revision_takes_effect_at_the_next_period() {
        let definition = input(count_sla()).parse("mql-volume").unwrap();
        let signed = DateTime::parse_from_rfc3339("2026-11-12T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let first = definition.takes_effect(signed, None).from;
        assert_eq!(
            first.to_rfc3339(),
            "2026-10-31T23:00:00+00:00",
            "start of November in Berlin"
        );
        let revision = definition
            .takes_effect(signed, Some((&definition, first)))
            .from;
        assert_eq!(
            revision.to_rfc3339(),
            "2026-11-30T23:00:00+00:00",
            "start of December in Berlin"
        );
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn with_window(window: serde_json::Value) -> Definition {
        let mut body = count_sla();
        body["window"] = window;
        input(body).parse("mql-volume").unwrap()
    }

    #[test]
    fn each_instant_has_one_version_when_windows_change() {
        let utc_month =
            with_window(json!({"kind": "calendar", "period": "month", "timezone": "UTC"}));
        let berlin_week =
            with_window(json!({"kind": "calendar", "period": "week", "timezone": "Europe/Berlin"}));
        let rolling = with_window(json!({"kind": "rolling", "length": "7d"}));
        let since = utc("2026-10-01T00:00:00Z");
        // A UTC month revised to a Berlin week on Thu 12 Nov: November stays the month's, the
        // week starts on the first Berlin Monday after (Mon 7 Dec); 1–6 Dec is judged by neither.
        let switch =
            berlin_week.takes_effect(utc("2026-11-12T10:00:00Z"), Some((&utc_month, since)));
        assert_eq!(switch.old_until, Some(utc("2026-12-01T00:00:00Z")));
        assert_eq!(switch.from, utc("2026-12-06T23:00:00Z"));
        // A month revised to a rolling window: the month ends, then the rolling window starts.
        let switch = rolling.takes_effect(utc("2026-11-12T10:00:00Z"), Some((&utc_month, since)));
        assert_eq!(switch.old_until, Some(utc("2026-12-01T00:00:00Z")));
        assert_eq!(switch.from, utc("2026-12-01T00:00:00Z"));
        // A rolling window is replaced where its successor's first period starts.
        let switch = utc_month.takes_effect(utc("2026-11-12T10:00:00Z"), Some((&rolling, since)));
        assert_eq!(switch.old_until, Some(utc("2026-12-01T00:00:00Z")));
        assert_eq!(switch.from, utc("2026-12-01T00:00:00Z"));
        // Signed before the old version began: the old one governs nothing.
        let later = utc("2027-01-01T00:00:00Z");
        let switch =
            berlin_week.takes_effect(utc("2026-11-12T10:00:00Z"), Some((&utc_month, later)));
        assert_eq!(switch.old_until, Some(later));
        assert_eq!(switch.from, utc("2027-01-03T23:00:00Z"));
    }
}
