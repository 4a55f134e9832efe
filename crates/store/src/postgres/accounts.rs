//! Accounts on PostgreSQL: emails unique regardless of case (an index on `lower(email)`).

use super::{PostgresStore, failed};
use crate::rows::USER_COLUMNS;
use crate::{AccountStore, BoxFuture, StoreError, UserRow};

pub(super) fn user_row(row: &tokio_postgres::Row) -> UserRow {
    UserRow { id: row.get(0), email: row.get(1), password_hash: row.get(2), root: row.get(3), fields: row.get(4) }
}

impl AccountStore for PostgresStore {
    fn insert_user(&self, user: UserRow) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(self.bounded(async move {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(
                    "INSERT INTO users (id, email, password_hash, root_id, fields) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT DO NOTHING",
                )
                .await
                .map_err(failed)?;
            let inserted = client
                .execute(&statement, &[&user.id, &user.email, &user.password_hash, &user.root, &user.fields])
                .await
                .map_err(failed)?;
            Ok(inserted == 1)
        }))
    }

    fn user_by_email<'a>(&'a self, email: &'a str) -> BoxFuture<'a, Result<Option<UserRow>, StoreError>> {
        Box::pin(async move {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)");
            self.query_opt(&sql, &[&email], user_row).await
        })
    }
}
