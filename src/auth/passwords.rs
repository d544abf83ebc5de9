//! Password work kept away from the database and from other requests: argon2 runs on the
//! blocking pool without a database connection, a bounded number at a time, and failed sign-ins
//! are limited per account and per client address.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::credentials::{hash_password, verify_password, verify_password_against_nothing};
use crate::domain::validate;
use crate::error::AppError;

/// Failed sign-ins one account may have within [`FAILURE_WINDOW`] before it is refused with 429.
pub const ACCOUNT_FAILURES: u32 = 10;
/// Failed sign-ins one client address may have within [`FAILURE_WINDOW`].
pub const ADDRESS_FAILURES: u32 = 50;
/// How long failures are remembered.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Above this many remembered keys, expired ones are dropped on the next failure.
const PRUNE_ABOVE: usize = 10_000;

/// Hashing and verifying passwords, and the record of failed sign-ins.
pub struct Passwords {
    permits: Arc<Semaphore>,
    failures: Mutex<HashMap<String, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// What a failed sign-in is counted against.
pub struct SignInKeys {
    account: String,
    address: String,
}

impl SignInKeys {
    /// The keys of a sign-in as `email` from `address`.
    pub fn new(email: &str, address: Option<std::net::IpAddr>) -> Self {
        Self {
            account: format!("account:{}", email.trim().to_lowercase()),
            address: format!(
                "address:{}",
                address.map_or_else(|| "unknown".into(), |a| a.to_string())
            ),
        }
    }

    fn limits(&self) -> [(&str, u32); 2] {
        [
            (&self.account, ACCOUNT_FAILURES),
            (&self.address, ADDRESS_FAILURES),
        ]
    }
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

impl Passwords {
    /// At most half the cores hash at once, so a flood of sign-ins leaves the rest to everything else.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self {
            permits: Arc::new(Semaphore::new((cores / 2).max(1))),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Checks a new password's rules and hashes it: `Ok(Err(reason))` when it breaks a rule.
    pub async fn hash(&self, clear: String) -> Result<Result<String, String>, AppError> {
        if let Err(reason) = validate::password(&clear) {
            return Ok(Err(reason));
        }
        let hash = self
            .on_blocking_pool(move || hash_password(&clear))
            .await??;
        Ok(Ok(hash))
    }

    /// Whether `clear` matches `hash`; with no hash, spends as long and answers `false`, so an
    /// unknown account is not told apart by timing.
    pub async fn verify(&self, clear: String, hash: Option<String>) -> Result<bool, AppError> {
        self.on_blocking_pool(move || match hash {
            Some(hash) => verify_password(&clear, &hash),
            None => {
                verify_password_against_nothing(&clear);
                false
            }
        })
        .await
    }

    async fn on_blocking_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| anyhow::anyhow!("password permits closed: {e}"))?;
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| anyhow::anyhow!("password task failed: {e}"))?;
        Ok(result)
    }

    /// 429 with the seconds to wait when the account or the address has failed too often.
    pub fn check_allowed(&self, keys: &SignInKeys) -> Result<(), AppError> {
        let now = Instant::now();
        let failures = self.lock();
        let wait = keys
            .limits()
            .into_iter()
            .filter_map(|(key, limit)| {
                let window = failures.get(key)?;
                let ends = window.started + FAILURE_WINDOW;
                (window.failures >= limit && ends > now).then(|| ends - now)
            })
            .max();
        match wait {
            Some(wait) => Err(AppError::TooManyRequests {
                detail: "too many failed sign-ins; wait before trying again".into(),
                retry_after_secs: wait.as_secs().max(1),
            }),
            None => Ok(()),
        }
    }

    /// Counts a failed sign-in against the account and the address.
    pub fn record_failure(&self, keys: &SignInKeys) {
        let now = Instant::now();
        let mut failures = self.lock();
        if failures.len() > PRUNE_ABOVE {
            failures.retain(|_, w| w.started + FAILURE_WINDOW > now);
        }
        for (key, _) in keys.limits() {
            let window = failures.entry(key.to_string()).or_insert(Window {
                started: now,
                failures: 0,
            });
            if window.started + FAILURE_WINDOW <= now {
                *window = Window {
                    started: now,
                    failures: 0,
                };
            }
            window.failures += 1;
        }
    }

    /// A successful sign-in clears the account's failures (not the address's).
    pub fn record_success(&self, keys: &SignInKeys) {
        self.lock().remove(&keys.account);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        // A panic elsewhere while holding the lock leaves counts that are still good to use.
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_refused_after_its_failures_and_others_are_not() {
        let passwords = Passwords::new();
        let ada = SignInKeys::new(" Ada@Example.com", None);
        for _ in 0..ACCOUNT_FAILURES {
            assert!(passwords.check_allowed(&ada).is_ok());
            passwords.record_failure(&SignInKeys::new("ada@example.com", None));
        }
        let Err(AppError::TooManyRequests {
            retry_after_secs, ..
        }) = passwords.check_allowed(&ada)
        else {
            panic!("the eleventh attempt must be refused");
        };
        assert!(retry_after_secs > 0 && retry_after_secs <= FAILURE_WINDOW.as_secs());
        assert!(
            passwords
                .check_allowed(&SignInKeys::new("mo@example.com", None))
                .is_ok()
        );
    }

    #[test]
    fn an_address_is_refused_after_its_failures_across_accounts() {
        let passwords = Passwords::new();
        let address = Some(std::net::IpAddr::from([127, 0, 0, 9]));
        for n in 0..ADDRESS_FAILURES {
            passwords.record_failure(&SignInKeys::new(&format!("u{n}@example.com"), address));
        }
        assert!(
            passwords
                .check_allowed(&SignInKeys::new("new@example.com", address))
                .is_err()
        );
        let elsewhere = Some(std::net::IpAddr::from([127, 0, 0, 10]));
        assert!(
            passwords
                .check_allowed(&SignInKeys::new("new@example.com", elsewhere))
                .is_ok()
        );
    }
}
