//! Delivering outbox messages: email through SMTP (or `.eml` files when no SMTP server is set)
//! and Slack-compatible webhook posts.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
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

    /// Sends one message; an error is the reason to try again later. `secret` signs a generic
    /// webhook's post; `now` is its `webhook-timestamp`.
    pub async fn deliver(
        &self,
        message: &OutboxMessage,
        secret: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        match message.channel.as_str() {
            "email" => self.email(message).await,
            "webhook" => self.webhook(message, secret, now).await,
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
        let header = |name: &str| message.headers.get(name).and_then(|v| v.as_str());
        // Every header is fixed when the message is written, the date included: a retried
        // delivery is the same message, and a receiver that saw it drops it by its Message-ID.
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&message.subject)
            .message_id(Some(
                header("Message-ID")
                    .map_or_else(|| format!("<{}@accord>", message.id), str::to_string),
            ))
            .date(message.created_at.into())
            .header(AutoSubmitted);
        if let Some(parent) = header("In-Reply-To") {
            builder = builder.in_reply_to(parent.to_string());
        }
        if let Some(references) = header("References") {
            builder = builder.references(references.to_string());
        }
        if let Some(list) = header("List-Id") {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Id"),
                list.to_string(),
            ));
        }
        builder
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

    async fn webhook(
        &self,
        message: &OutboxMessage,
        secret: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), String> {
        let body = message.payload.to_string();
        let mut request = self
            .http
            .post(&message.recipient)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(id) = message.headers.get("webhook-id").and_then(|v| v.as_str()) {
            let secret = secret.ok_or("the team's generic webhook has no secret")?;
            let timestamp = now.timestamp();
            request = request
                .header("webhook-id", id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    sign_webhook(secret, id, timestamp, &body)?,
                );
        }
        let response = request
            .body(body)
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

/// `Auto-Submitted: auto-generated` (RFC 3834): no vacation responder answers a notification.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".into())
    }
}

/// The Standard Webhooks signature: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`,
/// keyed with the base64 after `whsec_`.
pub fn sign_webhook(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let engine = base64::engine::general_purpose::STANDARD;
    let key = engine
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| "the webhook secret is not base64".to_string())?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key)
        .map_err(|_| "the webhook secret is unusable".to_string())?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", engine.encode(mac.finalize().into_bytes())))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector of the Standard Webhooks library's own tests.
    #[test]
    fn webhook_signatures_follow_standard_webhooks() {
        let signature = sign_webhook(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            r#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Ok("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=")
        );
    }
}
