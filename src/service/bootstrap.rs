//! What a new instance sets up once: its signing secret and its first admin.

use chrono::{DateTime, Utc};

use crate::auth::Principal;
use crate::auth::credentials::random_secret;
use crate::config::Config;
use crate::domain::identity::Role;
use crate::error::AppError;
use crate::service::users::{self, NewUser};
use crate::store::{self, DbConn};

/// Email of the admin created on an empty database.
pub const FIRST_ADMIN_EMAIL: &str = "admin@accord.local";

/// The account created at first start, for the operator to be told about once.
#[derive(Clone, Debug)]
pub struct FirstAdmin {
    /// Its sign-in address.
    pub email: String,
    /// The generated password, when none was given in `ACCORD_PASSWORD`.
    pub generated_password: Option<String>,
}

/// The JWT signing secret: `ACCORD_JWT_SECRET`, else one generated at first start and kept in the
/// database, so tokens survive restarts and every replica signs alike.
pub fn jwt_secret(
    conn: &mut DbConn,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, AppError> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    let secret = store::settings::get_or_insert(conn, "jwt_secret", &random_secret(48), now)?;
    Ok(secret.into_bytes())
}

/// Creates the first admin when there is no account at all; `None` when accounts exist.
pub fn first_admin(
    conn: &mut DbConn,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Option<FirstAdmin>, AppError> {
    if store::users::count(conn)? > 0 {
        return Ok(None);
    }
    let given = config
        .admin_password
        .as_ref()
        .map(|p| p.expose().to_string());
    let password = given.clone().unwrap_or_else(|| random_secret(18));
    let new = NewUser {
        email: FIRST_ADMIN_EMAIL.into(),
        name: "Administrator".into(),
        team: None,
        role: Role::Admin,
        password: users::new_password(&password)?,
    };
    match users::create(conn, &Principal::System, new.clone(), now) {
        Ok(_) => Ok(Some(FirstAdmin {
            email: new.email,
            generated_password: given.is_none().then_some(password),
        })),
        // Another replica created it at the same moment.
        Err(AppError::Conflict(_)) => Ok(None),
        Err(other) => Err(other),
    }
}
