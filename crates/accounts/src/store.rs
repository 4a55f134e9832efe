//! Where accounts are kept: the trait each store backend implements.

use serde::{Deserialize, Serialize};
use walker_core::access::{BoxFuture, StoreError};

/// A user account as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    /// 24 hex.
    pub id: String,
    /// Unique regardless of case.
    pub email: String,
    /// A PHC string (argon2id).
    pub password_hash: String,
    /// 24 hex: the user's root node.
    pub root: String,
    /// JSON text of an object: the app's own fields (`--user-fields`), as registered.
    #[serde(default = "no_fields")]
    pub fields: String,
}

/// The fields of an account registered with none (or before fields existed).
pub fn no_fields() -> String {
    "{}".to_string()
}

/// The accounts' persistence.
pub trait AccountStore: Send + Sync + 'static {
    /// Adds a user; `false` when the email (in any case) is taken.
    fn insert_user(&self, user: UserRow) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// The user with this email, in any case.
    fn user_by_email<'a>(&'a self, email: &'a str) -> BoxFuture<'a, Result<Option<UserRow>, StoreError>>;
}
