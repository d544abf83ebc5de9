//! Delivering outbox messages: email through SMTP (or `.eml` files when no SMTP server is set)
//! and Slack-compatible webhook posts.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart, header};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;
use crate::store::outbox::OutboxMessage;

/// Where email goes.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP server (`ACCORD_SMTP_URL`).
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a directory (`ACCORD_DATA_DIR/outbox/`), the default without SMTP.
    File(PathBuf),
}

/// Delivers messages of both channels.
#[derive(Clone)]
pub struct Deliverer {
    mailer: Mailer,
    from: Mailbox,
    http: reqwest::Client,
}

impl Deliverer {
    /// From the settings: SMTP when `ACCORD_SMTP_URL` is set, else files.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let mailer = match &config.smtp_url {
            Some(url) => Mailer::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .context("ACCORD_SMTP_URL")?
                    .timeout(Some(Duration::from_secs(20)))
                    .build(),
            ),
            None => Mailer::File(config.data_dir.join("outbox")),
        };
        let from: Mailbox = config.mail_from.parse().context("ACCORD_MAIL_FROM")?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Self { mailer, from, http })
    }

    /// Sends one message; an error is the reason to try again later.
    pub async fn deliver(&self, message: &OutboxMessage) -> Result<(), String> {
        match message.channel.as_str() {
            "email" => self.email(message).await,
            "webhook" => self.webhook(message).await,
            other => Err(format!("unknown channel {other}")),
        }
    }

    fn build(&self, message: &OutboxMessage) -> Result<Message, String> {
        let to: Mailbox = message
            .recipient
            .parse()
            .map_err(|e| format!("recipient: {e}"))?;
        let text = message.payload["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let html = message.payload["html"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&message.subject)
            // A stable id per outbox row, so a receiver can tell a retried delivery from a new message.
            .message_id(Some(format!("<{}@accord>", message.id)))
            .header(header::Date::now())
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| format!("cannot build the message: {e}"))
    }

    async fn email(&self, message: &OutboxMessage) -> Result<(), String> {
        let email = self.build(message)?;
        match &self.mailer {
            Mailer::Smtp(transport) => transport
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| format!("smtp: {e}")),
            Mailer::File(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| format!("{}: {e}", dir.display()))?;
                // Written under a temporary name, then renamed: a reader never sees half a file.
                let name = eml_file_name(message);
                let path = dir.join(&name);
                let partial = dir.join(format!(".{name}.partial"));
                tokio::fs::write(&partial, email.formatted())
                    .await
                    .map_err(|e| format!("{}: {e}", partial.display()))?;
                tokio::fs::rename(&partial, &path)
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }

    async fn webhook(&self, message: &OutboxMessage) -> Result<(), String> {
        let response = self
            .http
            .post(&message.recipient)
            .json(&message.payload)
            .send()
            .await
            .map_err(|e| format!("webhook: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("webhook answered {}", response.status()))
        }
    }
}

/// A name a person can search by: the kind, then the subject in lower-case words (status, SLA,
/// teams, period), then the recipient, then the end of the id (random in a UUIDv7) so that two
/// messages never share a name. `ls` lists the files grouped by kind, breaches first.
fn eml_file_name(message: &OutboxMessage) -> String {
    let words: String = message
        .subject
        .trim_start_matches("[accord]")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let words: Vec<&str> = words.split('-').filter(|w| !w.is_empty()).collect();
    let mut subject = words.join("-");
    subject.truncate(80);
    let recipient: String = message
        .recipient
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let unique = &message.id[message.id.len().saturating_sub(8)..];
    format!("{}_{subject}_{recipient}_{unique}.eml", message.kind)
}
