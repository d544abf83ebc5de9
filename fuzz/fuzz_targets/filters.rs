//! Query strings of the list endpoints: `limit` and `cursor`, the `from`/`to`/`status`/`team`
//! filters, and the sort keys the cursors carry.
#![no_main]

use accord::domain::breach::BreachStatus;
use accord::domain::event::parse_instant;
use accord::domain::sla::SlaStatus;
use accord::http::audit::AuditQuery;
use accord::http::breaches::{BreachQuery, NotificationQuery};
use accord::http::evaluations::HistoryQuery;
use accord::http::events::EventQuery;
use accord::http::pagination::{ListResponse, MAX_LIMIT, PageParams};
use accord::http::slas::SlaQuery;
use accord::http::status::{ComplianceQuery, StatusQuery};
use accord::service::Page;
use accord::service::events::{decode_position, encode_position};
use accord::store::events::StoredEvent;
use accord::store::to_db_time;
use chrono::{DateTime, SubsecRound, Utc};
use libfuzzer_sys::fuzz_target;

/// `?limit=&cursor=` as every list reads it.
fn page(limit: Option<usize>, cursor: Option<String>) {
    let Ok(request) = (PageParams {
        limit,
        cursor: cursor.clone(),
    })
    .to_request() else {
        return;
    };
    assert!((1..=MAX_LIMIT).contains(&request.limit));
    assert!(request.fetch_limit() > 0);
    assert_eq!(request.after.is_some(), cursor.is_some());
    if let Some(after) = request.after {
        cursor_round_trips(&after);
        events_position(&after);
    }
}

/// The `next_cursor` of a page continues after the same sort key.
fn cursor_round_trips(after: &str) {
    let page = Page::<()> {
        items: Vec::new(),
        next_after: Some(after.to_string()),
    };
    let cursor = ListResponse::from_page(page, |item| item).next_cursor;
    let request = PageParams {
        limit: None,
        cursor,
    }
    .to_request()
    .expect("a cursor accord wrote reads");
    assert_eq!(request.after.as_deref(), Some(after));
}

/// The sort key of `GET /events` (`micros|id`).
fn events_position(text: &str) {
    let Some((occurred_at, id)) = decode_position(text) else {
        return;
    };
    let event = StoredEvent {
        id,
        external_id: String::new(),
        kind: String::new(),
        subject_id: String::new(),
        team: String::new(),
        occurred_at: occurred_at.and_utc(),
        received_at: occurred_at.and_utc(),
        attributes: String::new(),
        submitted_by: None,
    };
    assert_eq!(
        decode_position(&encode_position(&event)),
        Some((occurred_at, id))
    );
}

/// A `from`/`to` filter as the services pass it to the store.
fn instant(at: Option<DateTime<Utc>>) {
    if let Some(at) = at {
        let stored = to_db_time(at);
        assert!(
            stored.and_utc() <= at,
            "truncating never moves an instant later"
        );
    }
}

fn query<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_urlencoded::from_str(text).ok()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    // The text as a cursor, a sort key and an event's timestamp.
    page(None, Some(text.to_string()));
    cursor_round_trips(text);
    events_position(text);
    if let Some(at) = parse_instant(text) {
        assert_eq!(
            at,
            at.trunc_subsecs(6),
            "instants are kept to the microsecond"
        );
        assert_eq!(parse_instant(&at.to_rfc3339()), Some(at));
    }

    // The text as the query string of each list endpoint, read as `web::Query` reads it.
    if let Some(q) = query::<EventQuery>(text) {
        page(q.limit, q.cursor);
        instant(q.from);
        instant(q.to);
    }
    if let Some(q) = query::<BreachQuery>(text) {
        page(q.limit, q.cursor);
        if let Some(Ok(status)) = q.status.as_deref().map(str::parse::<BreachStatus>) {
            assert_eq!(status.as_str().parse::<BreachStatus>(), Ok(status));
        }
    }
    if let Some(q) = query::<NotificationQuery>(text) {
        page(q.limit, q.cursor);
    }
    if let Some(q) = query::<SlaQuery>(text) {
        page(q.limit, q.cursor);
        if let Some(status) = q.status {
            assert_eq!(status.as_str().parse::<SlaStatus>(), Ok(status));
        }
    }
    if let Some(q) = query::<HistoryQuery>(text) {
        page(q.limit, q.cursor);
        instant(q.from);
        instant(q.to);
    }
    if let Some(q) = query::<AuditQuery>(text) {
        page(q.limit, q.cursor);
        instant(q.from);
        instant(q.to);
    }
    if let Some(q) = query::<ComplianceQuery>(text) {
        instant(Some(q.from));
        instant(Some(q.to));
    }
    let _ = query::<StatusQuery>(text);
});
