//! `POST /events` with `application/json`: one object or an array of them.
#![no_main]

use accord::domain::event;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let mut items = common::Items::new();
    let read = event::read_json(data, |position, item| {
        items.push((position, item));
        items.len() < common::MAX_ITEMS
    });
    // An array is read as a stream: items before a fault further on are handed over, and the
    // upload is then refused whole (400), so there is nothing more to check.
    if read.is_err() {
        return;
    }
    common::check_items(&items);

    // Every event read writes back as JSON that reads as the same event.
    let events = common::events(&items);
    let array = format!(
        "[{}]",
        events
            .iter()
            .map(common::to_json)
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut again = Vec::new();
    event::read_json(array.as_bytes(), |_, item| {
        again.push(item);
        true
    })
    .expect("written JSON reads");
    let again: Vec<_> = again
        .into_iter()
        .map(|item| item.expect("a written event reads"))
        .collect();
    assert_eq!(again, events);
});
