//! walker-accounts: users and their tokens. Registration and login with argon2 hashes
//! on a bounded pool that serves tenants in turn (`users`), jac-cloud compatible JWTs and
//! the identities they carry (`auth`), and the throttles on failed logins and on
//! registrations (`throttle`). Accounts are kept behind `AccountStore`, which the store
//! backends implement. Depends on walker-core only.

pub mod auth;
mod store;
pub mod throttle;
mod users;

pub use store::{AccountStore, UserRow};
pub use users::*;
