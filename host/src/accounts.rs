//! User accounts on the embedded default store: one SQLite file (WAL) in the data
//! directory, argon2 password hashes.
//!
//! Hashing is slow and memory-hungry by design (~19 MiB each), so a semaphore caps how
//! many run at once, and a login for an unknown email verifies against a dummy hash:
//! it takes as long as a wrong password, and tells nobody which emails have accounts.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context as _;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::Semaphore;

use crate::auth::random_hex;

pub struct Accounts {
    /// One connection: SQLite serializes writers anyway, and account calls are rare.
    db: Mutex<Connection>,
    /// Permits for password hashing, which runs on blocking threads.
    hashing: Semaphore,
}

#[derive(Debug, Clone)]
pub struct User {
    /// 24 hex.
    pub id: String,
    pub email: String,
    /// 24 hex.
    pub root: String,
}

#[derive(Debug)]
pub enum RegisterError {
    Exists,
    Internal(anyhow::Error),
}

impl Accounts {
    /// Opens (or creates) the database; at most `hash_concurrency` hashes run at once.
    pub fn open(path: &Path, hash_concurrency: usize) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let db = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS users (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE COLLATE NOCASE,
                password_hash TEXT NOT NULL,
                root_id TEXT NOT NULL UNIQUE,
                created_at INTEGER NOT NULL DEFAULT (unixepoch())
            );",
        )?;
        Ok(Accounts { db: Mutex::new(db), hashing: Semaphore::new(hash_concurrency.max(1)) })
    }

    /// Creates a user with a fresh root. Hashing is slow by design, so it runs on a
    /// blocking thread.
    pub async fn register(self: &Arc<Self>, email: String, password: String) -> Result<User, RegisterError> {
        let accounts = self.clone();
        let _permit = self.hashing.acquire().await.map_err(|err| RegisterError::Internal(err.into()))?;
        tokio::task::spawn_blocking(move || {
            let hash = hash_password(&password).map_err(RegisterError::Internal)?;
            let user = User { id: random_hex(12), email, root: random_hex(12) };
            let db = accounts.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match db.execute(
                "INSERT INTO users (id, email, password_hash, root_id) VALUES (?1, ?2, ?3, ?4)",
                params![user.id, user.email, hash, user.root],
            ) {
                Ok(_) => Ok(user),
                Err(rusqlite::Error::SqliteFailure(err, _)) if err.code == rusqlite::ErrorCode::ConstraintViolation => {
                    Err(RegisterError::Exists)
                }
                Err(err) => Err(RegisterError::Internal(err.into())),
            }
        })
        .await
        .map_err(|err| RegisterError::Internal(err.into()))?
    }

    /// The user with these credentials, if any.
    pub async fn login(self: &Arc<Self>, email: String, password: String) -> anyhow::Result<Option<User>> {
        let accounts = self.clone();
        let _permit = self.hashing.acquire().await?;
        tokio::task::spawn_blocking(move || {
            let row = {
                let db = accounts.db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                db.query_row(
                    "SELECT id, email, password_hash, root_id FROM users WHERE email = ?1",
                    params![email],
                    |row| {
                        Ok((User { id: row.get(0)?, email: row.get(1)?, root: row.get(3)? }, row.get::<_, String>(2)?))
                    },
                )
                .optional()?
            };
            let (user, hash) = match row {
                Some((user, hash)) => (Some(user), hash),
                None => (None, dummy_hash()?.to_string()),
            };
            let hash = PasswordHash::new(&hash).map_err(|err| anyhow::anyhow!("stored hash: {err}"))?;
            let matches = Argon2::default().verify_password(password.as_bytes(), &hash).is_ok();
            Ok(user.filter(|_| matches))
        })
        .await?
    }
}

fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let hash =
        Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|err| anyhow::anyhow!("hashing: {err}"))?;
    Ok(hash.to_string())
}

/// A hash of a random password with the real parameters, made once: what unknown
/// emails are verified against.
fn dummy_hash() -> anyhow::Result<&'static str> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = hash_password(&random_hex(16))?;
    Ok(DUMMY.get_or_init(|| hash))
}

/// A pragmatic email check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty()
        && local.len() <= 64
        && email.len() <= 254
        && !domain.contains('@')
        && domain.split('.').count() >= 2
        && domain
            .split('.')
            .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && !local.chars().any(|c| c.is_whitespace() || c.is_control())
}
