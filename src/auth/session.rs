//! Sign-in sessions of the web workspace: an encrypted cookie naming the person, and the
//! anti-forgery token every form carries.
//!
//! The cookie holds the user id, the account's token generation and when the person signed in.
//! Every request reads the account again (as for a bearer token), so a deactivation or a new
//! password ends the session at once; a session older than [`SESSION_TTL`] is over whatever the
//! browser keeps.

use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionMiddleware};
use actix_web::cookie::{Key, SameSite};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha512;

use super::Principal;
use crate::domain::identity::User;
use crate::error::AppError;
use crate::startup::AppState;

/// The name of the session cookie.
pub const COOKIE_NAME: &str = "accord_session";
/// How long a sign-in lasts.
pub const SESSION_TTL: chrono::Duration = chrono::Duration::hours(12);
/// The name of the anti-forgery field of every form.
pub const CSRF_FIELD: &str = "csrf";

const USER_ID: &str = "user_id";
const GENERATION: &str = "generation";
const SIGNED_IN_AT: &str = "signed_in_at";
const CSRF_TOKEN: &str = "csrf";

/// The key that encrypts session cookies, derived from the signing secret so that replicas
/// sharing the secret share sessions: HMAC-SHA-512 of a fixed label, 64 bytes.
pub fn cookie_key(secret: &[u8]) -> Key {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(b"accord web session cookie key v1");
    Key::from(&mac.finalize().into_bytes()[..])
}

/// The session middleware: HttpOnly, SameSite=Lax, Secure when the public URL is https,
/// encrypted, for [`SESSION_TTL`].
pub fn middleware(key: Key, secure: bool) -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::builder(CookieSessionStore::default(), key)
        .cookie_name(COOKIE_NAME.into())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_secure(secure)
        .cookie_path("/".into())
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(PersistentSession::default().session_ttl(
            actix_web::cookie::time::Duration::seconds(SESSION_TTL.num_seconds()),
        ))
        .build()
}

/// Starts a session for `user`: a fresh cookie (so a session fixed before sign-in is not kept)
/// with a fresh anti-forgery token.
pub fn start(session: &Session, user: &User, now: DateTime<Utc>) -> Result<(), AppError> {
    session.renew();
    session.clear();
    insert(session, USER_ID, &user.id)?;
    insert(session, GENERATION, &user.token_generation)?;
    insert(session, SIGNED_IN_AT, &now.timestamp())?;
    insert(session, CSRF_TOKEN, &new_token())?;
    Ok(())
}

/// Ends the session: the cookie is removed.
pub fn end(session: &Session) {
    session.purge();
}

fn insert<T: serde::Serialize>(session: &Session, key: &str, value: &T) -> Result<(), AppError> {
    session
        .insert(key, value)
        .map_err(|e| anyhow::anyhow!("session: {e}").into())
}

fn read<T: serde::de::DeserializeOwned>(session: &Session, key: &str) -> Option<T> {
    session.get(key).ok().flatten()
}

/// The person signed in by this session, read afresh; `None` without a session, or when the
/// session is over (expired, the account deactivated or its password changed), which also ends it.
pub async fn person(state: &AppState, session: &Session) -> Result<Option<Principal>, AppError> {
    let Some(user_id) = read::<String>(session, USER_ID) else {
        return Ok(None);
    };
    let generation = read::<i32>(session, GENERATION).unwrap_or(-1);
    let signed_in_at = read::<i64>(session, SIGNED_IN_AT)
        .and_then(|at| DateTime::from_timestamp(at, 0))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    if state.clock.now() - signed_in_at > SESSION_TTL {
        end(session);
        return Ok(None);
    }
    match super::current_person(state, user_id, generation).await {
        Ok(principal) => Ok(Some(principal)),
        Err(AppError::Unauthorized(_)) => {
            end(session);
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

/// The anti-forgery token of this session (made on first use, also before sign-in so that the
/// sign-in form carries one).
pub fn csrf_token(session: &Session) -> Result<String, AppError> {
    if let Some(token) = read::<String>(session, CSRF_TOKEN) {
        return Ok(token);
    }
    let token = new_token();
    insert(session, CSRF_TOKEN, &token)?;
    Ok(token)
}

/// `Ok` when `submitted` is this session's anti-forgery token (compared in constant time), else
/// 403: a form posted from elsewhere, or without its token, changes nothing.
pub fn check_csrf(session: &Session, submitted: Option<&str>) -> Result<(), AppError> {
    let expected = read::<String>(session, CSRF_TOKEN);
    match (expected, submitted) {
        (Some(expected), Some(submitted)) if same(expected.as_bytes(), submitted.as_bytes()) => {
            Ok(())
        }
        _ => Err(AppError::Forbidden(
            "this form has expired or did not come from accord; reload the page and try again"
                .into(),
        )),
    }
}

/// Equality whose time does not depend on where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
    }

    #[test]
    fn the_cookie_key_follows_the_secret() {
        assert_eq!(cookie_key(b"one").master(), cookie_key(b"one").master());
        assert_ne!(cookie_key(b"one").master(), cookie_key(b"two").master());
    }
}
