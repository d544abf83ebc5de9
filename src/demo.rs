//! `accord demo`: a new instance showing the whole job — two teams, their heads, three signed
//! SLAs, six weeks of activity with breaches, evaluation and the messages in the outbox.

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};

use crate::auth::Principal;
use crate::domain::breach::Breach;
use crate::domain::calendar::CalendarInput;
use crate::domain::event::NewEvent;
use crate::domain::identity::{Role, Team};
use crate::domain::sla::DefinitionInput;
use crate::error::AppError;
use crate::service::breaches::Links;
use crate::service::{self, calendars, slas, teams, users};
use crate::store::breaches::BreachFilter;
use crate::store::{self, DbConn};

/// Password of the demo's heads.
pub const DEMO_PASSWORD: &str = "demo-password-123";

/// A small deterministic generator, so every demo shows the same weeks.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn head(conn: &mut DbConn, email: &str) -> Result<Principal, AppError> {
    let (user, _) =
        store::users::find_credentials(conn, email)?.ok_or(AppError::NotFound("user"))?;
    Ok(Principal::User(user))
}

fn definition(value: serde_json::Value) -> Result<DefinitionInput, AppError> {
    serde_json::from_value(value).map_err(|e| AppError::Unexpected(e.into()))
}

/// Six weeks of leads ending at `now`: created, qualified, handed off, contacted (slower in the
/// third week, when sales was short-handed), converted. Marketing's volume dips in week four.
fn activity(teams: &[Team; 2], now: DateTime<Utc>, start: DateTime<Utc>) -> Vec<NewEvent> {
    let (marketing, sales) = (&teams[0].id, &teams[1].id);
    let mut dice = Dice(42);
    let mut events = Vec::new();
    let mut push =
        |id: String, kind: &str, subject: &str, team: &str, at: DateTime<Utc>, source: &str| {
            if at < now {
                events.push(NewEvent {
                    external_id: id,
                    kind: kind.into(),
                    subject_id: subject.into(),
                    team_id: team.into(),
                    occurred_at: at.naive_utc(),
                    attributes: serde_json::json!({"source": source, "region": "EMEA"}).to_string(),
                });
            }
        };
    let sources = ["webinar", "ads", "organic", "referral"];
    let mut lead = 0;
    let mut day = start;
    while day < now {
        let week = (day - start).num_days() / 7;
        let business = !matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        let leads = if !business {
            2
        } else if week == 3 {
            5
        } else {
            14
        };
        for _ in 0..leads {
            lead += 1;
            let subject = format!("L{lead:05}");
            let source = sources[(dice.next() * 4.0) as usize % 4];
            let created = day + Duration::minutes(8 * 60 + (dice.next() * 540.0) as i64);
            push(
                format!("mkt-{lead}-created"),
                "lead.created",
                &subject,
                marketing,
                created,
                source,
            );
            if dice.next() > 0.4 {
                continue;
            }
            let qualified = created + Duration::minutes(30 + (dice.next() * 600.0) as i64);
            push(
                format!("mkt-{lead}-qualified"),
                "lead.qualified",
                &subject,
                marketing,
                qualified,
                source,
            );
            let handed = qualified + Duration::minutes(20 + (dice.next() * 90.0) as i64);
            push(
                format!("mkt-{lead}-handoff"),
                "lead.handed_off",
                &subject,
                marketing,
                handed,
                source,
            );
            let slow = if week == 2 { 6.0 } else { 1.0 };
            if dice.next() < 0.04 {
                continue;
            }
            let contacted =
                handed + Duration::minutes(10 + (dice.next() * dice.next() * 600.0 * slow) as i64);
            push(
                format!("crm-{lead}-contacted"),
                "lead.contacted",
                &subject,
                sales,
                contacted,
                source,
            );
            if dice.next() < 0.3 {
                push(
                    format!("crm-{lead}-converted"),
                    "lead.converted",
                    &subject,
                    sales,
                    contacted + Duration::days(3),
                    source,
                );
            }
        }
        day += Duration::days(1);
    }
    events
}

/// Sets the demo up on an empty database; returns a token for the marketing head.
pub fn set_up(
    conn: &mut DbConn,
    now: DateTime<Utc>,
    links: &Links,
) -> Result<Vec<String>, AppError> {
    if !store::teams::list(conn, None, 1)?.is_empty() || store::events::count(conn)? > 0 {
        return Err(AppError::Conflict(
            "the demo needs a fresh data directory: this one already has teams or events".into(),
        ));
    }
    let system = Principal::System;
    let mut made = Vec::new();
    for (slug, name) in [("marketing", "Marketing"), ("sales", "Sales")] {
        let (team, _) = teams::create(
            conn,
            &system,
            teams::NewTeam {
                slug: slug.into(),
                name: name.into(),
                email: format!("{slug}@demo.example.com"),
                webhook_url: None,
                webhook_kind: None,
                digest: None,
            },
            now,
        )?;
        let email = format!("head@{slug}.demo.example.com");
        users::create(
            conn,
            &system,
            users::NewUser {
                email,
                name: format!("Head of {name}"),
                team: Some(slug.into()),
                role: Role::Head,
                password: users::new_password(DEMO_PASSWORD)?,
            },
            now,
        )?;
        made.push(team);
    }
    let teams: [Team; 2] = [made[0].clone(), made[1].clone()];
    let office: CalendarInput = serde_json::from_value(serde_json::json!({
        "key": "emea-office", "name": "EMEA office", "timezone": "Europe/Berlin",
        "hours": {"mon": [["09:00", "17:00"]], "tue": [["09:00", "17:00"]], "wed": [["09:00", "17:00"]], "thu": [["09:00", "17:00"]], "fri": [["09:00", "17:00"]]}
    }))
    .map_err(|e| AppError::Unexpected(e.into()))?;
    calendars::create(conn, &system, office, now)?;

    // Six full ISO weeks of history before the current one.
    let monday = now.date_naive() - Duration::days(i64::from(now.weekday().num_days_from_monday()));
    let start_date: NaiveDate = monday - Duration::weeks(6);
    let start = Utc.from_utc_datetime(&start_date.and_hms_opt(0, 0, 0).unwrap_or_default());
    let (marketing, sales) = (
        head(conn, "head@marketing.demo.example.com")?,
        head(conn, "head@sales.demo.example.com")?,
    );
    let agreements = [
        (
            &marketing,
            &sales,
            serde_json::json!({"key": "mql-volume", "name": "Marketing-qualified leads per week",
            "provider": "marketing", "consumer": "sales",
            "metric": {"kind": "count", "event": "lead.qualified"}, "objective": {"op": ">=", "target": 20},
            "window": {"kind": "calendar", "period": "week", "timezone": "Europe/Berlin"},
            "notify_on": ["breach", "at_risk", "recovered"], "effective_from": start_date.to_string()}),
        ),
        (
            &sales,
            &marketing,
            serde_json::json!({"key": "follow-up", "name": "Hand-offs contacted within 4 business hours",
            "provider": "sales", "consumer": "marketing",
            "metric": {"kind": "response_time", "start": {"event": "lead.handed_off"}, "stop": {"event": "lead.contacted"},
                       "threshold": "4h", "calendar": "emea-office"},
            "objective": {"op": ">=", "target": 90}, "window": {"kind": "calendar", "period": "week", "timezone": "Europe/Berlin"},
            "notify_on": ["breach", "at_risk", "recovered"], "effective_from": start_date.to_string()}),
        ),
        (
            &sales,
            &marketing,
            serde_json::json!({"key": "conversion", "name": "Qualified leads converted",
            "provider": "sales", "consumer": "marketing",
            "metric": {"kind": "ratio", "numerator": {"event": "lead.converted"}, "denominator": {"event": "lead.qualified"}},
            "objective": {"op": ">=", "target": 0.2}, "window": {"kind": "calendar", "period": "week", "timezone": "Europe/Berlin"},
            "effective_from": start_date.to_string()}),
        ),
    ];
    let mut keys = Vec::new();
    for (proposer, signer, body) in agreements {
        let key = body["key"].as_str().unwrap_or_default().to_string();
        // Signed when the history begins: its weeks are judged as they close, not as a backfill.
        slas::create(conn, proposer, definition(body)?, start, links)?;
        slas::approve(conn, signer, &key, None, start, links)?;
        keys.push(key);
    }
    let events = activity(&teams, now, start);
    for chunk in events.chunks(5_000) {
        service::events::store_batch(conn, chunk, &Principal::System.actor(), now)?;
    }
    Ok(keys)
}

/// What the demo did, for its summary.
pub struct DemoReport {
    /// Messages delivered (mail and webhook posts).
    pub delivered: usize,
    /// The breaches the evaluation opened, by SLA and period.
    pub breaches: Vec<DemoBreach>,
}

/// A breach of the demo, with its numbers as people read them.
pub struct DemoBreach {
    /// The breach.
    pub breach: Breach,
    /// Its value with a unit: `8 %`, `12`.
    pub value: String,
    /// The target in words: `at least 20 %`.
    pub target: String,
}

/// Runs `set_up`, one evaluation cycle and the delivery of every message, on `db`.
pub async fn prepare(
    state: &actix_web::web::Data<crate::startup::AppState>,
    deliverer: &crate::email::Deliverer,
) -> anyhow::Result<DemoReport> {
    let (now, settings, links) = (
        state.clock.now(),
        state.config.evaluation(),
        state.config.links(),
    );
    let setup_links = links.clone();
    state
        .db
        .run(move |conn| set_up(conn, now, &setup_links))
        .await
        .context("setting up the demo")?;
    let report = state
        .db
        .run(move |conn| service::evaluation::run_cycle(conn, now, settings, &links, None))
        .await?;
    let mut delivered = 0;
    for _ in 0..100 {
        let handled = crate::scheduler::dispatch::dispatch_once(state, deliverer).await?;
        delivered += handled;
        if handled == 0 {
            break;
        }
    }
    if report.written.is_empty() {
        bail!("the demo's evaluation wrote nothing");
    }
    let mut breaches: Vec<DemoBreach> = state
        .db
        .run(|conn| {
            let breaches = store::breaches::list(conn, &BreachFilter::default(), None, 1000)?;
            breaches.into_iter().map(|b| in_words(conn, b)).collect()
        })
        .await?;
    breaches.sort_by(|a, b| {
        (&a.breach.sla, a.breach.period_start).cmp(&(&b.breach.sla, b.breach.period_start))
    });
    Ok(DemoReport {
        delivered,
        breaches,
    })
}

/// `breach` with its value and target in the words of its SLA's version.
fn in_words(conn: &mut DbConn, breach: Breach) -> Result<DemoBreach, AppError> {
    let version = service::breaches::version_of(conn, &breach)?;
    let reading = crate::domain::present::reading(
        &version.definition,
        breach.value,
        breach.op,
        breach.target,
        &serde_json::Value::Null,
    );
    Ok(DemoBreach {
        breach,
        value: reading.value,
        target: reading.target,
    })
}

/// A demo period as people name it: every demo SLA counts ISO weeks in Berlin.
pub fn week_label(start: DateTime<Utc>) -> String {
    let week = start.with_timezone(&chrono_tz::Europe::Berlin).iso_week();
    format!("{}-W{:02}", week.year(), week.week())
}
