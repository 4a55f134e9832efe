//! Accounts on SQLite: one table, emails unique regardless of case.

use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, failed};
use crate::rows::USER_COLUMNS;
use crate::{AccountStore, BoxFuture, StoreError, UserRow};

pub(super) fn user_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: row.get(0)?,
        email: row.get(1)?,
        password_hash: row.get(2)?,
        root: row.get(3)?,
        fields: row.get(4)?,
    })
}

impl AccountStore for SqliteStore {
    fn insert_user(&self, user: UserRow) -> BoxFuture<'_, Result<bool, StoreError>> {
        let db = self.accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let inserted = db
            .prepare_cached(
                "INSERT INTO users (id, email, password_hash, root_id, fields) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![user.id, user.email, user.password_hash, user.root, user.fields]))
            .map(|rows| rows == 1)
            .map_err(failed);
        Box::pin(std::future::ready(inserted))
    }

    fn user_by_email<'a>(&'a self, email: &'a str) -> BoxFuture<'a, Result<Option<UserRow>, StoreError>> {
        let db = self.accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let user = db
            .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1"))
            .and_then(|mut s| s.query_row([email], user_row).optional())
            .map_err(failed);
        Box::pin(std::future::ready(user))
    }
}
