//! `POST /events` with `application/x-ndjson`, and `accord import` of a `.ndjson` file.
#![no_main]

use accord::domain::event::{self, Position};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let mut items = common::Items::new();
    event::read_ndjson(data, |position, item| {
        items.push((position, item));
        items.len() < common::MAX_ITEMS
    })
    .expect("reading from memory cannot fail");
    common::check_items(&items);

    let lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    for (position, item) in &items {
        let Position::Line(number) = *position else {
            panic!("NDJSON items are named by line, not {position}");
        };
        let line = lines[usize::try_from(number - 1).expect("line numbers fit")];
        assert!(
            !line.iter().all(u8::is_ascii_whitespace),
            "blank lines are skipped"
        );
        if item.is_ok() {
            // An accepted line is exactly one JSON value: nothing after the event is dropped.
            let whole: Result<serde::de::IgnoredAny, _> = serde_json::from_slice(line);
            assert!(
                whole.is_ok(),
                "line {number} was accepted but is not one JSON value: {:?}",
                whole.err()
            );
        }
    }

    // Every event read writes back as NDJSON that reads as the same event.
    let events = common::events(&items);
    let text: String = events.iter().map(|e| common::to_json(e) + "\n").collect();
    let mut again = Vec::new();
    event::read_ndjson(text.as_bytes(), |_, item| {
        again.push(item.expect("a written event reads"));
        true
    })
    .expect("reading from memory cannot fail");
    assert_eq!(again, events);
});
