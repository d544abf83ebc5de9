//! Signing in with email and password.

use crate::auth::credentials::{verify_password, verify_password_against_nothing};
use crate::domain::identity::User;
use crate::error::AppError;
use crate::store::{self, DbConn};

/// The active account whose password matches; the same 401 for an unknown email, a wrong
/// password or a deactivated account, so the answer does not tell which.
pub fn sign_in(conn: &mut DbConn, email: &str, password: &str) -> Result<User, AppError> {
    let refused = AppError::Unauthorized("wrong email or password");
    let Some((user, hash)) = store::users::find_credentials(conn, &email.trim().to_lowercase())?
    else {
        verify_password_against_nothing(password);
        return Err(refused);
    };
    if !verify_password(password, &hash) || user.deactivated_at.is_some() {
        return Err(refused);
    }
    Ok(user)
}
