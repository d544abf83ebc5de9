//! The aggregate queries behind evaluations: counts per window, and each start's first stop.
//!
//! Filters are built into SQL text with bound parameters; the two dialects differ only in
//! placeholders and in how a JSON attribute is read (`json_type`/`json_extract` against
//! `jsonb_typeof`/`->>`).
//!
//! An attribute filter value (always a string) matches on both backends alike:
//! - a string attribute equal to it, character for character;
//! - a boolean attribute when it is `"true"` or `"false"`;
//! - a number attribute when it is written as a JSON number of the same value (`"1"` and
//!   `"1.0"` match `1`; `"2.5"` matches `2.5`);
//! - never null, an array, an object, or an absent attribute.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;

use super::{DbConn, from_db_time, to_db_time};
use crate::domain::evaluation::{Pause, StartRecord};
use crate::domain::sla::{Filter, Selector};

/// A value bound to a placeholder.
#[derive(Clone, Debug)]
enum Bind {
    Text(String),
    Time(NaiveDateTime),
    Double(f64),
}

/// SQL text with `\u{1}` where a placeholder goes, and the values in order.
#[derive(Clone, Debug, Default)]
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

const PLACEHOLDER: char = '\u{1}';

impl Sql {
    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, value: Bind) -> &mut Self {
        self.text.push(PLACEHOLDER);
        self.binds.push(value);
        self
    }

    fn text(&mut self, value: &str) -> &mut Self {
        self.bind(Bind::Text(value.to_string()))
    }

    fn time(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.bind(Bind::Time(to_db_time(value)))
    }

    /// `AND …` conditions for a selector's filter on the table alias `t`.
    fn filter(&mut self, t: &str, filter: Option<&Filter>, postgres: bool) -> &mut Self {
        let Some(filter) = filter else { return self };
        if let Some(team) = &filter.team {
            self.push(&format!(
                " AND {t}.team_id = (SELECT id FROM teams WHERE slug = "
            ))
            .text(team)
            .push(")");
        }
        for (key, values) in &filter.attributes {
            self.attribute(t, key, values, postgres);
        }
        self
    }

    /// `AND …` for one attribute filter (see the module's rules for what matches).
    fn attribute(&mut self, t: &str, key: &str, values: &[String], postgres: bool) -> &mut Self {
        let numbers: Vec<f64> = values
            .iter()
            .filter_map(|v| serde_json::from_str::<serde_json::Number>(v).ok())
            .filter_map(|n| n.as_f64())
            .collect();
        let wants = |word: &str| values.iter().any(|v| v.as_str() == word);
        // backend: SQLite names JSON types with json_type and reads values with json_extract (a
        // path); PostgreSQL with jsonb_typeof and ->> (a key). Both compare numbers as doubles.
        let p = PLACEHOLDER;
        let (type_of, text_of, number_of) = if postgres {
            (
                format!("jsonb_typeof({t}.attributes::jsonb -> {p})"),
                format!("({t}.attributes::jsonb ->> {p})"),
                // CASE keeps the cast away from values that are not numbers.
                format!(
                    "(CASE WHEN jsonb_typeof({t}.attributes::jsonb -> {p}) = 'number' THEN ({t}.attributes::jsonb ->> {p})::double precision END)"
                ),
            )
        } else {
            (
                format!("json_type({t}.attributes, {p})"),
                format!("json_extract({t}.attributes, {p})"),
                format!("json_extract({t}.attributes, {p})"),
            )
        };
        let (string, number) = if postgres {
            ("'string'", "'number'")
        } else {
            ("'text'", "'integer', 'real'")
        };
        let locator = if postgres {
            key.to_string()
        } else {
            format!("$.\"{}\"", key.replace('"', "\\\""))
        };
        self.push(" AND ((");
        self.with_key(&type_of, &locator)
            .push(&format!(" = {string} AND "))
            .with_key(&text_of, &locator)
            .push(" IN (");
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.text(value);
        }
        self.push("))");
        for word in ["true", "false"] {
            if wants(word) {
                // backend: jsonb_typeof says 'boolean' and ->> gives the word; json_type gives it.
                self.push(" OR (");
                if postgres {
                    self.with_key(&type_of, &locator)
                        .push(" = 'boolean' AND ")
                        .with_key(&text_of, &locator)
                        .push(&format!(" = '{word}')"));
                } else {
                    self.with_key(&type_of, &locator)
                        .push(&format!(" = '{word}')"));
                }
            }
        }
        if !numbers.is_empty() {
            self.push(" OR (");
            self.with_key(&type_of, &locator)
                .push(&format!(" IN ({number}) AND "))
                .with_key(&number_of, &locator)
                .push(" IN (");
            for (i, n) in numbers.iter().enumerate() {
                if i > 0 {
                    self.push(", ");
                }
                self.bind(Bind::Double(*n));
            }
            self.push("))");
        }
        self.push(")")
    }

    /// Pushes `template`, binding `key` at each placeholder in it.
    fn with_key(&mut self, template: &str, key: &str) -> &mut Self {
        for (i, part) in template.split(PLACEHOLDER).enumerate() {
            if i > 0 {
                self.text(key);
            }
            self.push(part);
        }
        self
    }

    /// Events of `selector` on alias `t` in `[from, to)` (`from` `None`: any time before `to`),
    /// as seen at `as_of` (`None`: everything stored).
    fn selected(
        &mut self,
        t: &str,
        selector: &Selector,
        from: Option<DateTime<Utc>>,
        to: DateTime<Utc>,
        as_of: Option<DateTime<Utc>>,
        postgres: bool,
    ) -> &mut Self {
        self.push(&format!("{t}.kind = ")).text(&selector.event);
        if let Some(from) = from {
            self.push(&format!(" AND {t}.occurred_at >= ")).time(from);
        }
        self.push(&format!(" AND {t}.occurred_at < ")).time(to);
        if let Some(as_of) = as_of {
            self.push(&format!(" AND {t}.received_at <= ")).time(as_of);
        }
        self.filter(t, selector.filter.as_ref(), postgres)
    }

    fn render(&self, postgres: bool) -> String {
        if !postgres {
            return self.text.replace(PLACEHOLDER, "?");
        }
        let mut out = String::with_capacity(self.text.len() + 16);
        let mut n = 0;
        for c in self.text.chars() {
            if c == PLACEHOLDER {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
        out
    }
}

fn load<T>(conn: &mut DbConn, build: impl Fn(bool) -> Sql) -> QueryResult<Vec<T>>
where
    T: QueryableByName<Pg> + QueryableByName<Sqlite> + 'static,
{
    // backend: placeholders and JSON access differ, so the SQL text is rendered per dialect.
    match conn {
        DbConn::Postgres(pg) => {
            let sql = build(true);
            let mut query = diesel::sql_query(sql.render(true)).into_boxed::<Pg>();
            for bind in sql.binds {
                query = match bind {
                    Bind::Text(v) => query.bind::<Text, _>(v),
                    Bind::Time(v) => query.bind::<Timestamp, _>(v),
                    Bind::Double(v) => query.bind::<Double, _>(v),
                };
            }
            query.load(pg)
        }
        DbConn::Sqlite(lite) => {
            let sql = build(false);
            let mut query = diesel::sql_query(sql.render(false)).into_boxed::<Sqlite>();
            for bind in sql.binds {
                query = match bind {
                    Bind::Text(v) => query.bind::<Text, _>(v),
                    Bind::Time(v) => query.bind::<Timestamp, _>(v),
                    Bind::Double(v) => query.bind::<Double, _>(v),
                };
            }
            query.load(lite)
        }
    }
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Events of `selector` that occurred in `[from, to)`.
pub fn count(
    conn: &mut DbConn,
    selector: &Selector,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    as_of: Option<DateTime<Utc>>,
) -> QueryResult<i64> {
    let rows: Vec<CountRow> = load(conn, |pg| {
        let mut sql = Sql::default();
        sql.push("SELECT count(*) AS n FROM events e WHERE ")
            .selected("e", selector, Some(from), to, as_of, pg);
        sql
    })?;
    Ok(rows.first().map_or(0, |r| r.n))
}

#[derive(QueryableByName)]
struct StartRow {
    #[diesel(sql_type = Text)]
    subject_id: String,
    #[diesel(sql_type = Timestamp)]
    start_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Timestamp>)]
    stop_at: Option<NaiveDateTime>,
}

#[derive(QueryableByName)]
struct MarkRow {
    #[diesel(sql_type = Text)]
    subject_id: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Timestamp)]
    occurred_at: NaiveDateTime,
}

/// Every start in `[from, to)` with the first stop of the same subject at or after it and before
/// `until`, found by one index probe per start; plus pauses when the SLA has them.
#[expect(
    clippy::too_many_arguments,
    reason = "the parts of one query, each needed"
)]
pub fn starts(
    conn: &mut DbConn,
    start: &Selector,
    stop: &Selector,
    pause: Option<(&Selector, &Selector)>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    until: DateTime<Utc>,
    as_of: Option<DateTime<Utc>>,
) -> QueryResult<Vec<StartRecord>> {
    let rows: Vec<StartRow> = load(conn, |pg| {
        let mut sql = Sql::default();
        sql.push("SELECT s.subject_id AS subject_id, s.occurred_at AS start_at, (SELECT min(t.occurred_at) FROM events t WHERE t.subject_id = s.subject_id AND t.kind = ")
            .text(&stop.event)
            .push(" AND t.occurred_at >= s.occurred_at AND t.occurred_at < ")
            .time(until);
        if let Some(as_of) = as_of {
            sql.push(" AND t.received_at <= ").time(as_of);
        }
        sql.filter("t", stop.filter.as_ref(), pg);
        sql.push(") AS stop_at FROM events s WHERE ").selected(
            "s",
            start,
            Some(from),
            to,
            as_of,
            pg,
        );
        sql.push(" ORDER BY s.occurred_at, s.id");
        sql
    })?;
    let mut pauses: HashMap<String, Vec<Pause>> = HashMap::new();
    if let Some((pause, resume)) = pause
        && !rows.is_empty()
    {
        let marks: Vec<MarkRow> = load(conn, |pg| {
            let mut sql = Sql::default();
            // A lead put on hold before the period began is still on hold in it: its pause and
            // resume events count wherever they lie.
            sql.push("SELECT m.subject_id AS subject_id, m.kind AS kind, m.occurred_at AS occurred_at FROM events m WHERE ((")
                .selected("m", pause, None, until, as_of, pg)
                .push(") OR (")
                .selected("m", resume, None, until, as_of, pg)
                .push(")) AND m.subject_id IN (SELECT s.subject_id FROM events s WHERE ")
                .selected("s", start, Some(from), to, as_of, pg)
                .push(") ORDER BY m.subject_id, m.occurred_at");
            sql
        })?;
        for mark in marks {
            let intervals = pauses.entry(mark.subject_id).or_default();
            let at = from_db_time(mark.occurred_at);
            let open = intervals
                .last()
                .is_some_and(|(_, resumed)| resumed.is_none());
            if mark.kind == pause.event && !open {
                intervals.push((at, None));
            } else if mark.kind == resume.event
                && open
                && let Some(last) = intervals.last_mut()
            {
                last.1 = Some(at);
            }
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| StartRecord {
            pauses: pauses.get(&row.subject_id).cloned().unwrap_or_default(),
            subject_id: row.subject_id,
            start_at: from_db_time(row.start_at),
            stop_at: row.stop_at.map(from_db_time),
        })
        .collect())
}

#[derive(QueryableByName)]
struct LatestRow {
    #[diesel(sql_type = Timestamp)]
    received_at: NaiveDateTime,
}

/// When the last event of any of `kinds` arrived (as seen at `as_of`), if one ever did.
pub fn last_arrival(
    conn: &mut DbConn,
    kinds: &[&str],
    as_of: Option<DateTime<Utc>>,
) -> QueryResult<Option<DateTime<Utc>>> {
    let rows: Vec<LatestRow> = load(conn, |pg| {
        let mut sql = Sql::default();
        // backend: SQLite would otherwise read every event of these kinds through the kind index
        // and sort them; `+` keeps it on the primary key, walked from the newest. PostgreSQL
        // walks the primary key backwards by itself (and has no unary plus for text).
        let kind = if pg { "e.kind" } else { "+e.kind" };
        sql.push(&format!(
            "SELECT e.received_at AS received_at FROM events e WHERE {kind} IN ("
        ));
        for (i, kind) in kinds.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.text(kind);
        }
        sql.push(")");
        if let Some(as_of) = as_of {
            sql.push(" AND e.received_at <= ").time(as_of);
        }
        // Ids follow arrival, so the newest arrival is found walking the primary key backwards.
        sql.push(" ORDER BY e.id DESC LIMIT 1");
        sql
    })?;
    Ok(rows.first().map(|r| from_db_time(r.received_at)))
}
