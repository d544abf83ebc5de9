//! Durations as clients and operators write them: SLA thresholds and windows, `ACCORD_*` settings,
//! `accord token issue --ttl`.
#![no_main]

use accord::domain::duration::Span;
use libfuzzer_sys::fuzz_target;

/// Ten years of 366 days, the longest span accepted.
const MAX_SECONDS: i64 = 10 * 366 * 86_400;

fn round_trips(span: Span) {
    let seconds = span.as_secs();
    assert!((1..=MAX_SECONDS).contains(&seconds), "{seconds}");
    assert_eq!(span.as_delta().num_seconds(), seconds);
    assert_eq!(span.as_std().as_secs(), seconds.unsigned_abs());
    let shown = span.to_string();
    assert_eq!(shown.parse::<Span>(), Ok(span), "{shown:?} reads back");
    let json = serde_json::to_string(&span).expect("a span serializes");
    assert_eq!(json, format!("\"{shown}\""));
    assert_eq!(serde_json::from_str::<Span>(&json).ok(), Some(span));
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let parsed = text.parse::<Span>();
        // A JSON field holding the same text reads the same way.
        let from_json = serde_json::from_value::<Span>(serde_json::Value::String(text.into()));
        assert_eq!(parsed.as_ref().ok(), from_json.as_ref().ok());
        match parsed {
            Ok(span) => round_trips(span),
            Err(message) => assert!(!message.is_empty()),
        }
    }
    if let Ok(bytes) = <[u8; 8]>::try_from(data) {
        let seconds = i64::from_le_bytes(bytes);
        match Span::from_secs(seconds) {
            Some(span) => round_trips(span),
            None => assert!(!(1..=MAX_SECONDS).contains(&seconds)),
        }
    }
});
