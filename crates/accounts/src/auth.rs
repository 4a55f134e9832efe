//! Identities and tokens: root ids in their wire forms, and jac-cloud compatible JWTs
//! (HS256, jac-cloud's claims plus the standard `exp`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use walker_core::ids::{PUBLIC_ROOT, parse_root, random_hex};

use crate::users::User;

/// Who is calling: a signed-in user, or anonymous on the public root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// 24 hex.
    pub root: String,
    pub authenticated: bool,
    /// When the token that proved it expires; a WebSocket is signed out then.
    pub expires: Option<SystemTime>,
    /// JSON of the signed-in account, as walkers read it (`jac:walker/account`): its id,
    /// email, root and the app's user fields, from the token.
    pub account: Option<Arc<str>>,
}

impl Identity {
    pub fn anonymous() -> Self {
        Identity { root: PUBLIC_ROOT.to_string(), authenticated: false, expires: None, account: None }
    }
}

/// jac-cloud's token claims, plus `exp` so standard JWT tooling enforces expiry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub id: String,
    pub email: String,
    /// Bare hex, as jac-cloud issues it.
    pub root_id: String,
    pub is_activated: bool,
    pub is_admin: bool,
    pub expiration: u64,
    pub state: String,
    pub exp: u64,
    /// The app's own user fields, beside jac-cloud's, as jac-cloud's tokens carry them.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// Signs and verifies tokens.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

/// Where the generated secret is kept, so restarts keep sessions valid.
const SECRET_FILE: &str = "token_secret";

impl Tokens {
    /// Uses `secret`, or the one kept in `data_dir` (generated on first start).
    pub fn new(secret: Option<&str>, data_dir: &Path, ttl: Duration) -> anyhow::Result<Self> {
        let secret = match secret {
            Some(secret) if !secret.is_empty() => secret.to_string(),
            _ => stored_secret(&data_dir.join(SECRET_FILE))?,
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        // A token that is not valid yet proves nothing yet (jsonwebtoken skips `nbf` by default).
        validation.validate_nbf = true;
        validation.required_spec_claims = ["exp".to_string()].into();
        Ok(Tokens {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            ttl,
        })
    }

    /// A token for a user, and its claims.
    pub fn issue(&self, user: &User) -> anyhow::Result<(String, Claims)> {
        let expiration = (SystemTime::now() + self.ttl).duration_since(UNIX_EPOCH)?.as_secs();
        let claims = Claims {
            id: user.id.clone(),
            email: user.email.clone(),
            root_id: user.root.clone(),
            is_activated: true,
            is_admin: false,
            expiration,
            state: random_hex(4),
            exp: expiration,
            fields: user.fields.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// The identity a token proves: a raw JWT or `Bearer <jwt>`. Expired, forged,
    /// malformed or `alg: none` tokens prove nothing.
    pub fn verify(&self, token: &str) -> Option<Identity> {
        let token = token.trim();
        let token = match token.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => token,
        };
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?.claims;
        let expires = UNIX_EPOCH + std::time::Duration::from_secs(claims.exp);
        let root = parse_root(&claims.root_id)?;
        let mut account = serde_json::json!({"id": claims.id, "email": claims.email, "root_id": claims.root_id});
        account.as_object_mut().expect("an object").extend(claims.fields);
        Some(Identity { root, authenticated: true, expires: Some(expires), account: Some(account.to_string().into()) })
    }
}

/// A tenant's token key, derived from the operator's secret: tokens of one tenant do not
/// verify on another, and one secret serves them all.
pub fn tenant_secret(master: &str, tenant: &str) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(master.as_bytes()).expect("HMAC takes any key size");
    mac.update(b"walker-host tenant ");
    mac.update(tenant.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The shortest token secret accepted: HS256 wants a key of at least its 32-byte output.
pub const MIN_TOKEN_SECRET_BYTES: usize = 32;

/// A configured token secret is long enough to sign with.
pub fn check_token_secret(secret: &str) -> Result<(), String> {
    if secret.len() >= MIN_TOKEN_SECRET_BYTES {
        Ok(())
    } else {
        Err(format!("the token secret must be at least {MIN_TOKEN_SECRET_BYTES} bytes long"))
    }
}

/// The secret kept in `path`, or a new one written there when there is none. A file that
/// exists but cannot be read (not UTF-8, no permission) fails the start: replacing it
/// would sign every user out.
fn stored_secret(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(secret) if !secret.trim().is_empty() => return Ok(secret.trim().to_string()),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            return Err(err).with_context(|| {
                format!(
                    "reading the token secret {}; move it away to sign every user out and start anew",
                    path.display()
                )
            });
        }
    }
    let secret = random_hex(32);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    write_private(&tmp, &secret).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a token secret");
    Ok(secret)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}
