//! A small SMTP server on loopback that keeps what it receives: a real peer for lettre, speaking
//! the protocol over TCP (EHLO, MAIL, RCPT, DATA, QUIT), so delivery, retries and encoding are
//! tested as they happen against any mail server.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One message as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    /// The decoded `Subject:` header.
    pub fn subject(&self) -> String {
        subject_of(&self.data)
    }
}

/// The decoded `Subject:` header of a raw message.
pub fn subject_of(data: &str) -> String {
    {
        let mut lines = data.lines();
        let mut subject = String::new();
        while let Some(line) = lines.next() {
            if let Some(rest) = line.strip_prefix("Subject: ") {
                subject.push_str(rest);
                // Folded continuation lines start with whitespace.
                for next in lines.by_ref() {
                    if next.starts_with([' ', '\t']) {
                        subject.push_str(next);
                    } else {
                        break;
                    }
                }
                break;
            }
        }
        decode_words(&subject)
    }
}

/// Decodes RFC 2047 `=?utf-8?b?…?=` words (lettre encodes non-ASCII subjects so).
fn decode_words(text: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    let mut previous_encoded = false;
    for word in text.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        let encoded = lower.starts_with("=?utf-8?b?") && word.ends_with("?=");
        // Whitespace between two encoded words is not part of the text; anywhere else it is.
        if !(out.is_empty() || encoded && previous_encoded) {
            out.push(' ');
        }
        if encoded {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&word[10..word.len() - 2])
                .unwrap_or_default();
            out.push_str(&String::from_utf8_lossy(&bytes));
        } else {
            out.push_str(word);
        }
        previous_encoded = encoded;
    }
    out
}

pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    logins: Arc<Mutex<Vec<String>>>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    task: JoinHandle<()>,
}

/// How the server answers a message's data: after `delay`, and with a temporary failure (451)
/// to the first attempt at each subject and recipient when `refuse_first` is set.
#[derive(Clone, Copy, Debug, Default)]
pub struct Behaviour {
    pub delay: std::time::Duration,
    pub refuse_first: bool,
}

/// One delivery attempt as the server saw it.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub at: std::time::Instant,
    pub to: Vec<String>,
    pub subject: String,
    pub accepted: bool,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    pub async fn start_on(port: u16) -> Self {
        Self::start_with(port, Behaviour::default()).await
    }

    /// A server that answers slowly, or refuses first attempts (see [`Behaviour`]).
    pub async fn start_with(port: u16, behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind SMTP port");
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let logins: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
        let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let seen_logins = logins.clone();
        let seen_attempts = attempts.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                let seen_logins = seen_logins.clone();
                let seen_attempts = seen_attempts.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 localhost ESMTP test sink\r\n").await;
                    let mut to = Vec::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") {
                            b"250-localhost\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
                        } else if upper.starts_with("AUTH PLAIN ") {
                            use base64::Engine;
                            let decoded = base64::engine::general_purpose::STANDARD
                                .decode(line[11..].trim())
                                .unwrap_or_default();
                            let parts: Vec<String> = decoded
                                .split(|b| *b == 0)
                                .map(|p| String::from_utf8_lossy(p).into_owned())
                                .collect();
                            seen_logins.lock().unwrap().push(parts[1..].join(":"));
                            b"235 2.7.0 accepted\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            to.push(line[8..].trim().trim_matches(['<', '>']).to_string());
                            b"250 OK\r\n"
                        } else if upper.starts_with("DATA") {
                            let _ = write.write_all(b"354 go on\r\n").await;
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(l.strip_prefix('.').unwrap_or(&l));
                                data.push('\n');
                            }
                            let at = std::time::Instant::now();
                            tokio::time::sleep(behaviour.delay).await;
                            let subject = subject_of(&data);
                            let to = std::mem::take(&mut to);
                            let accepted = {
                                let mut seen = seen_attempts.lock().unwrap();
                                let tried = seen.iter().any(|a| a.subject == subject && a.to == to);
                                let accepted = !behaviour.refuse_first || tried;
                                seen.push(Attempt {
                                    at,
                                    to: to.clone(),
                                    subject,
                                    accepted,
                                });
                                accepted
                            };
                            if accepted {
                                store.lock().unwrap().push(Received { to, data });
                                b"250 queued\r\n"
                            } else {
                                b"451 4.3.0 try again later\r\n"
                            }
                        } else if upper.starts_with("QUIT") {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        } else if upper.starts_with("RSET") {
                            to.clear();
                            b"250 OK\r\n"
                        } else {
                            b"250 OK\r\n"
                        };
                        if write.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self {
            port,
            received,
            logins,
            attempts,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// `user:password` of each AUTH PLAIN the server accepted.
    pub fn logins(&self) -> Vec<String> {
        self.logins.lock().unwrap().clone()
    }

    /// Every attempt at delivering data, accepted or refused, in order of arrival.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Messages whose subject starts with `prefix`, waiting up to 15 s for at least `n` of them.
    pub async fn wait_for(&self, prefix: &str, n: usize) -> Vec<Received> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let found: Vec<Received> = self
                .messages()
                .into_iter()
                .filter(|m| m.subject().starts_with(prefix))
                .collect();
            if found.len() >= n || std::time::Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

/// A port with nothing listening on it (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
