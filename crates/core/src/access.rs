//! What the graph's layers agree on: jac-cloud's access levels, the rules a run follows,
//! the grantee that stands for everyone, and the errors a store reports.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

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

    /// A level as jac's `AccessLevel.cast` takes one: a member's name or its number;
    /// `None` for anything else (null included).
    pub fn cast(value: &serde_json::Value) -> Option<Level> {
        match value {
            serde_json::Value::String(name) => match name.as_str() {
                "NO_ACCESS" => Some(Level::NoAccess),
                "READ" => Some(Level::Read),
                "CONNECT" => Some(Level::Connect),
                "WRITE" => Some(Level::Write),
                _ => None,
            },
            serde_json::Value::Number(number) => number.as_i64().filter(|n| (-1..=2).contains(n)).map(Level::from_i64),
            _ => None,
        }
    }
}

/// The access rules a run follows, as its walker declares them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AccessRules {
    /// The default: what the caller may not read is absent, and a write it may not make
    /// is refused (`denied`).
    #[default]
    Strict,
    /// jac-cloud's: a node is read by id whoever owns it, a write the caller may not
    /// make is dropped as if made, and some node types compute their level.
    JacCloud(Arc<ComputedAccess>),
}

/// Node types whose level for other roots is one of their fields, by type: jac's
/// `__jac_access__`, when it returns a field.
pub type ComputedAccess = HashMap<String, String>;

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
