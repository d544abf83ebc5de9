//! `POST /events` with `text/csv`, and `accord import` of a `.csv` file.
#![no_main]

use accord::domain::event;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let mut items = common::Items::new();
    if event::read_csv(data, |position, item| {
        items.push((position, item));
        items.len() < common::MAX_ITEMS
    })
    .is_err()
    {
        assert!(items.is_empty(), "an unreadable header hands over nothing");
        return;
    }
    common::check_items(&items);

    // Every event read writes back as CSV that reads as the same event.
    let events = common::events(&items);
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(accord::domain::event::CSV_COLUMNS)
        .expect("writing to memory");
    for e in &events {
        out.write_record([
            e.external_id.as_str(),
            e.kind.as_str(),
            e.subject_id.as_str(),
            e.team.as_str(),
            e.occurred_at.as_str(),
            e.attributes.as_deref().unwrap_or_default(),
        ])
        .expect("writing to memory");
    }
    let text = out.into_inner().expect("writing to memory");
    let mut again = Vec::new();
    event::read_csv(text.as_slice(), |_, item| {
        again.push(item.expect("a written event reads"));
        true
    })
    .expect("the written header reads");
    assert_eq!(again, events);
});
