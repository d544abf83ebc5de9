//! Secrets at rest: argon2 password hashes and hashed service tokens.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every service token starts with this, so it is told apart from a JWT (and found by secret scanners).
pub const SERVICE_TOKEN_PREFIX: &str = "acc_";

/// Hashes a password with argon2id and a random salt, as a PHC string.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash password: {e}"))
}

/// Whether `password` matches the stored PHC hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Spends about as long as a real verification, so an unknown email is not told apart by timing.
pub fn verify_password_against_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default());
    let _ = verify_password(password, hash);
}

/// `n` random bytes as unpadded base64url.
pub fn random_secret(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

/// A new service token: the prefix and 256 random bits.
pub fn new_service_token() -> String {
    format!("{SERVICE_TOKEN_PREFIX}{}", random_secret(32))
}

/// Whether a bearer token is a service token rather than a JWT.
pub fn is_service_token(token: &str) -> bool {
    token.starts_with(SERVICE_TOKEN_PREFIX)
}

/// The stored form of a service token. A fast hash is enough: the token has 256 random bits.
pub fn hash_service_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse battery staple").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery staple", &hash));
        assert!(!verify_password("correct horse battery stapler", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn service_tokens_are_random_and_prefixed() {
        let (a, b) = (new_service_token(), new_service_token());
        assert_ne!(a, b);
        assert!(is_service_token(&a));
        assert_eq!(a.len(), SERVICE_TOKEN_PREFIX.len() + 43);
        assert_eq!(hash_service_token(&a).len(), 64);
    }
}
