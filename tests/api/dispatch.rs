//! Two dispatchers on one outbox against a slow mail server that refuses each message's first
//! attempt: every message is delivered once, and no retry comes before its backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use accord::clock::SystemClock;
use accord::config::Config;
use accord::scheduler::dispatch::dispatch_once;
use accord::startup::Application;
use accord::store::outbox::NewMessage;
use serde_json::json;

use crate::for_each_backend;
use crate::helpers::{Backend, TestDb};
use crate::smtp::{Behaviour, SmtpSink};

const MESSAGES: usize = 6;

async fn two_dispatchers_send_each_message_once_after_its_backoff(backend: Backend) {
    // Each answer takes 400 ms, longer than a third of the lease: a dispatcher that dated its
    // claims from the start of its batch would hold expired leases by the third message.
    let sink = SmtpSink::start_with(
        0,
        Behaviour {
            delay: Duration::from_millis(400),
            refuse_first: true,
        },
    )
    .await;
    let db = TestDb::new(backend);
    let mut env = db.env();
    for (name, value) in [
        ("ACCORD_SMTP_URL", sink.url()),
        ("ACCORD_LEASE", "1s".into()),
        ("ACCORD_RETRY_BASE", "2s".into()),
    ] {
        env.insert(name.into(), value);
    }
    let config = Config::from_lookup(|name| env.get(name).cloned()).unwrap();
    let application = Application::build(config, Arc::new(SystemClock))
        .await
        .unwrap();
    let (state, deliverer) = (application.state(), application.deliverer().clone());
    {
        let mut conn = state.db.get().unwrap();
        let payload = json!({"text": "Body", "html": "<p>Body</p>"});
        for i in 0..MESSAGES {
            let (recipient, subject, key) = (
                format!("team-{i}@example.com"),
                format!("[accord] TEST {i}"),
                format!("test:{i}"),
            );
            let message = NewMessage {
                kind: "breach.opened",
                team_id: None,
                channel: "email",
                recipient: &recipient,
                subject: &subject,
                payload: &payload,
                dedupe_key: &key,
                headers: &Default::default(),
            };
            accord::store::outbox::enqueue(&mut conn, message, chrono::Utc::now()).unwrap();
        }
    }

    let deadline = Instant::now() + Duration::from_secs(40);
    let dispatcher = || async {
        while sink.messages().len() < MESSAGES && Instant::now() < deadline {
            if dispatch_once(&state, &deliverer).await.unwrap() == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    tokio::join!(dispatcher(), dispatcher());

    let attempts = sink.attempts();
    for i in 0..MESSAGES {
        let subject = format!("[accord] TEST {i}");
        let tries: Vec<_> = attempts.iter().filter(|a| a.subject == subject).collect();
        assert_eq!(
            tries.iter().map(|a| a.accepted).collect::<Vec<_>>(),
            [false, true],
            "{subject}: refused once, then delivered once: {tries:#?}"
        );
        // The refusal is answered 400 ms after it arrived; the retry waits 2 s ± 20 % from then.
        let waited = tries[1].at - tries[0].at;
        assert!(
            waited >= Duration::from_millis(1900),
            "{subject} was retried after {waited:?}, before its backoff"
        );
    }
    assert_eq!(sink.messages().len(), MESSAGES);
    sink.stop();
}

for_each_backend!(two_dispatchers_send_each_message_once_after_its_backoff);
