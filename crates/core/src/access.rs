//! What the graph's layers agree on: jac-cloud's access levels, the grantee that stands
//! for everyone, and the errors a store reports.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

/// jac-cloud's access levels, in order: each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    NoAccess = -1,
    Read = 0,
    Connect = 1,
    Write = 2,
}

impl Level {
    pub fn from_i64(value: i64) -> Level {
        match value {
            0 => Level::Read,
            1 => Level::Connect,
            2 => Level::Write,
            _ => Level::NoAccess,
        }
    }
}

/// The grantee that stands for everyone (jac-cloud's `access.all`).
pub const EVERYONE: &str = "*";

/// Which of a node's edges: leaving it, reaching it, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Out,
    In,
    Both,
}

/// A boxed future that may borrow its receiver: what the traits at the crates'
/// boundaries (stores, the runtime's graph) return. SQLite's are ready at once.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Something the run read changed since, or an end of a new edge is gone.
    #[error("the graph changed while the walker ran")]
    Conflict,
    /// Committing would take a root past its quota.
    #[error("{0}")]
    Quota(String),
    #[error("storage: {0}")]
    Store(String),
}

/// The store could not be reached or failed; the detail is for the log only.
#[derive(Debug, thiserror::Error)]
#[error("storage: {0}")]
pub struct StoreError(pub String);

impl From<StoreError> for CommitError {
    fn from(err: StoreError) -> Self {
        CommitError::Store(err.0)
    }
}
