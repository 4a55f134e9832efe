//! User accounts: registration and login over an `AccountStore`, argon2 password
//! hashes.
//!
//! Hashing is slow and memory-hungry by design (~19 MiB each), so one bounded pool,
//! shared by every tenant in turn, caps how many run at once and how many of each
//! tenant's may wait; and a login for an unknown email verifies against a dummy hash:
//! it takes as long as a wrong password, so login tells nobody which emails have
//! accounts. Registration does tell: it answers that an email is taken, as jac-cloud does.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};

use serde_json::{Map, Value};

use walker_core::fair::{FairSemaphore, Party, new_party};
use walker_core::ids::random_hex;

use crate::store::{AccountStore, UserRow};

pub struct Accounts {
    store: Arc<dyn AccountStore>,
    /// Where its password hashes run: its tenant's turn at the server's one pool.
    hashing: HashLane,
}

/// Password hashing on blocking threads, for every tenant: at most `concurrency` at
/// once, granted to tenants in turn, so that one tenant's flood of logins delays
/// another's next hash by one hash at most.
pub struct HashPool {
    places: Arc<FairSemaphore>,
    /// Hashes one tenant may have waiting; past it, its callers are refused at once.
    queue: usize,
}

/// One tenant's turn at the pool, with its own count of waiters.
pub struct HashLane {
    pool: Arc<HashPool>,
    party: Party,
    waiting: AtomicUsize,
}

/// Every hashing place is taken and the tenant's queue is full: try again shortly.
#[derive(Debug, thiserror::Error)]
#[error("every password hashing place is taken")]
pub struct HashPoolFull;

impl HashPool {
    pub fn new(concurrency: usize, queue: usize) -> Arc<Self> {
        Arc::new(HashPool { places: FairSemaphore::new(concurrency.max(1)), queue })
    }

    /// A tenant's turn at this pool.
    pub fn lane(self: &Arc<Self>) -> HashLane {
        HashLane { pool: self.clone(), party: new_party(), waiting: AtomicUsize::new(0) }
    }
}

impl HashLane {
    /// Runs `work` on a blocking thread once a place is free and it is this lane's turn.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
        let places = &self.pool.places;
        let _place = match places.try_acquire() {
            Some(place) => place,
            None => {
                let _queued = Queued::join(&self.waiting, self.pool.queue).ok_or(HashPoolFull)?;
                places.acquire(self.party).await
            }
        };
        Ok(tokio::task::spawn_blocking(work).await?)
    }
}

/// One waiter counted in a lane's queue until it is dropped: granted, or its caller gone.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn join(waiting: &'a AtomicUsize, queue: usize) -> Option<Self> {
        let queued = Queued(waiting);
        (waiting.fetch_add(1, Ordering::AcqRel) < queue).then_some(queued)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug, Clone)]
pub struct User {
    /// 24 hex.
    pub id: String,
    pub email: String,
    /// 24 hex.
    pub root: String,
    /// The app's own fields, as registered: returned at login and carried in the token,
    /// as jac-cloud serializes its `User` subclass.
    pub fields: Map<String, Value>,
}

impl User {
    fn from_row(row: UserRow) -> Self {
        // Written by `register` as an object; anything else reads as no fields.
        let fields = match serde_json::from_str(&row.fields) {
            Ok(Value::Object(fields)) => fields,
            _ => Map::new(),
        };
        User { id: row.id, email: row.email, root: row.root, fields }
    }
}

#[derive(Debug)]
pub enum RegisterError {
    Exists,
    Internal(anyhow::Error),
}

impl Accounts {
    /// Accounts kept in `store`, hashing passwords in `hashing`.
    pub fn new(store: Arc<dyn AccountStore>, hashing: HashLane) -> Self {
        Accounts { store, hashing }
    }

    /// Creates a user with a fresh root and the app's `fields` (already validated).
    pub async fn register(
        &self,
        email: String,
        password: String,
        fields: Map<String, Value>,
    ) -> Result<User, RegisterError> {
        let hash = self.hash(password).await.map_err(RegisterError::Internal)?;
        let fields = Value::Object(fields).to_string();
        let row = UserRow { id: random_hex(12), email, password_hash: hash, root: random_hex(12), fields };
        match self.store.insert_user(row.clone()).await {
            Ok(true) => Ok(User::from_row(row)),
            Ok(false) => Err(RegisterError::Exists),
            Err(err) => Err(RegisterError::Internal(err.into())),
        }
    }

    /// The user with these credentials, if any.
    pub async fn login(&self, email: String, password: String) -> anyhow::Result<Option<User>> {
        let row = self.store.user_by_email(&email).await?;
        let stored = row.as_ref().map(|row| row.password_hash.clone());
        let matches = (self.hashing)
            .run(move || -> anyhow::Result<bool> {
                let hash = match stored {
                    Some(hash) => hash,
                    None => dummy_hash()?.to_string(),
                };
                verify(&password, &hash)
            })
            .await??;
        Ok(row.filter(|_| matches).map(User::from_row))
    }

    async fn hash(&self, password: String) -> anyhow::Result<String> {
        self.hashing.run(move || hash_password(&password)).await?
    }
}

/// Checks a password against a stored hash: ours (argon2id), or one imported from
/// jac-cloud (passlib's `pbkdf2-sha512`).
fn verify(password: &str, stored: &str) -> anyhow::Result<bool> {
    if let Some(passlib) = stored.strip_prefix("$pbkdf2-sha512$") {
        return Ok(verify_passlib_pbkdf2(password, passlib));
    }
    let hash = PasswordHash::new(stored).map_err(|err| anyhow::anyhow!("stored hash: {err}"))?;
    Ok(Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// passlib's `<rounds>$<salt>$<checksum>`, salt and checksum in its "adapted base64"
/// (`.` for `+`, no padding).
fn verify_passlib_pbkdf2(password: &str, hash: &str) -> bool {
    use base64::Engine as _;
    let ab64 = |text: &str| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.replace('.', "+"));
    let mut parts = hash.split('$');
    let (Some(rounds), Some(salt), Some(checksum), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(rounds), Ok(salt), Ok(expected)) = (rounds.parse::<u32>(), ab64(salt), ab64(checksum)) else {
        return false;
    };
    // A stored hash is data: bound the work it can ask for.
    if !(1..=PBKDF2_MAX_ROUNDS).contains(&rounds) || expected.is_empty() || expected.len() > 64 {
        return false;
    }
    let mut actual = vec![0u8; expected.len()];
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password.as_bytes(), &salt, rounds, &mut actual);
    // Constant time: every byte is compared.
    actual.iter().zip(&expected).fold(0u8, |differ, (a, b)| differ | (a ^ b)) == 0
}

/// passlib's default is 25 000; far more would let one login take seconds.
const PBKDF2_MAX_ROUNDS: u32 = 1_000_000;

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
