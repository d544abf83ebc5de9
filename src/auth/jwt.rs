//! Access tokens: HS256 JWTs with issuer, audience and expiry, nothing else accepted.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::domain::identity::User;
use crate::error::AppError;

/// The `iss` of every token accord issues.
pub const ISSUER: &str = "accord";
/// The `aud` of every token accord issues.
pub const AUDIENCE: &str = "accord-api";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    iat: i64,
    exp: i64,
    /// The account's token generation when issued (absent in tokens of earlier versions: 0).
    #[serde(default)]
    generation: i32,
}

/// Whom a valid token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSubject {
    /// The user id.
    pub user_id: String,
    /// The account's token generation when the token was issued.
    pub generation: i32,
}

/// Signs and checks access tokens with one shared secret, and holds the key of the web
/// workspace's session cookies derived from the same secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    session: actix_web::cookie::Key,
}

impl JwtKeys {
    /// Keys for `secret`.
    pub fn new(secret: &[u8]) -> Self {
        // `Validation::new` accepts only the algorithm named here, so `none` or RS256 headers fail.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            session: super::session::cookie_key(secret),
        }
    }

    /// The key that encrypts session cookies (replicas sharing the secret share it).
    pub fn session_key(&self) -> actix_web::cookie::Key {
        self.session.clone()
    }

    /// A token for `user`, valid from `now` for `ttl`.
    pub fn issue(
        &self,
        user: &User,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> anyhow::Result<String> {
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user.id.clone(),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
            generation: user.token_generation,
        };
        Ok(encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Whom a valid token speaks for. Expiry is checked against the system clock.
    pub fn verify(&self, token: &str) -> Result<TokenSubject, AppError> {
        use jsonwebtoken::errors::ErrorKind;
        match decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(TokenSubject {
                user_id: data.claims.sub,
                generation: data.claims.generation,
            }),
            Err(error) => Err(AppError::Unauthorized(match error.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::InvalidAudience | ErrorKind::InvalidIssuer => {
                    "the token was not issued for accord"
                }
                _ => "the token is not valid",
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            email: "u@example.com".into(),
            name: "U".into(),
            team: None,
            role: crate::domain::identity::Role::Admin,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            deactivated_at: None,
            token_generation: 3,
        }
    }

    #[test]
    fn a_token_verifies_with_its_own_secret_only() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let token = keys
            .issue(&user("user-1"), Utc::now(), chrono::Duration::hours(1))
            .unwrap();
        assert_eq!(
            keys.verify(&token).unwrap(),
            TokenSubject {
                user_id: "user-1".into(),
                generation: 3
            }
        );
        let other = JwtKeys::new(b"fedcba9876543210fedcba9876543210");
        assert!(other.verify(&token).is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let token = keys
            .issue(
                &user("user-1"),
                Utc::now() - chrono::Duration::hours(2),
                chrono::Duration::hours(1),
            )
            .unwrap();
        assert!(matches!(
            keys.verify(&token),
            Err(AppError::Unauthorized("the token has expired"))
        ));
    }
}
