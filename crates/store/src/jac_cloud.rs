//! Reading a jac-cloud deployment: its MongoDB `user`, `node` and `edge` collections as
//! `mongoexport` writes them (one Extended JSON document per line), turned into rows.
//!
//! Ids carry over unchanged, so references, roots and stored ids keep working. A
//! document's `archetype` becomes the context; `access.all` becomes a grant to everyone
//! and `access.roots.anchors` grants to roots; roots themselves are not rows (their
//! grants are kept). Passwords keep jac-cloud's hashes (passlib's `pbkdf2-sha512`),
//! which login verifies. An account's other keys become the app's user fields only as
//! the app declares them, checked as registration checks them. Not carried over: walker and object documents, and
//! `is_undirected` (every edge here has a direction).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::portable::{GrantRow, Record};
use super::{EVERYONE, EdgeRow, Level, NodeRow, UserRow};
use walker_core::ids::{Kind, Ref};

#[derive(Deserialize)]
struct ObjectId {
    #[serde(rename = "$oid")]
    hex: String,
}

#[derive(Deserialize)]
struct Binary {
    #[serde(rename = "$binary")]
    binary: BinaryValue,
}

#[derive(Deserialize)]
struct BinaryValue {
    base64: String,
}

#[derive(Deserialize)]
struct User {
    #[serde(rename = "_id")]
    id: ObjectId,
    email: String,
    password: Binary,
    root_id: ObjectId,
    /// The app's own fields (a `User` subclass's, such as `name`), and jac-cloud's flags.
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Access {
    all: Option<String>,
    roots: Roots,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Roots {
    anchors: BTreeMap<String, String>,
}

/// A `node` or `edge` document.
#[derive(Deserialize)]
struct Anchor {
    #[serde(rename = "_id")]
    id: ObjectId,
    #[serde(default)]
    name: String,
    /// The owner root; `null` for roots.
    root: Option<ObjectId>,
    #[serde(default)]
    access: Access,
    #[serde(default)]
    archetype: Map<String, Value>,
    source: Option<String>,
    target: Option<String>,
}

fn level(name: &str) -> Option<Level> {
    match name {
        "READ" => Some(Level::Read),
        "CONNECT" => Some(Level::Connect),
        "WRITE" => Some(Level::Write),
        _ => None,
    }
}

/// The app's user fields of one account, checked as registration checks them (declared,
/// typed, bounded; jac-cloud's own names never among them), or why they are refused.
pub type UserFieldCheck<'a> = &'a dyn Fn(Map<String, Value>) -> Result<Map<String, Value>, String>;

/// Reads `<dir>/user.json`, `node.json` and `edge.json` (the last two may be absent);
/// each user's other keys pass `user_fields` to become the app's user fields.
pub fn read_export(dir: &Path, user_fields: UserFieldCheck) -> anyhow::Result<Vec<Record>> {
    let mut rows = Vec::new();
    for user in documents::<User>(&dir.join("user.json"))? {
        let hash = base64::engine::general_purpose::STANDARD.decode(&user.password.binary.base64)?;
        let fields = user_fields(user.rest).map_err(|why| anyhow::anyhow!("user {}: {why}", user.email))?;
        rows.push(Record::User(UserRow {
            id: user.id.hex.to_lowercase(),
            email: user.email,
            password_hash: String::from_utf8(hash).context("a password hash is not text")?,
            root: user.root_id.hex.to_lowercase(),
            fields: Value::Object(fields).to_string(),
        }));
    }
    let mut grants = Vec::new();
    for node in documents::<Anchor>(&dir.join("node.json"))? {
        let hex = node.id.hex.to_lowercase();
        let Some(owner) = node.root else {
            grants_of(&format!("n::{hex}"), &node.access, &mut grants);
            continue;
        };
        grants_of(&format!("n:{}:{hex}", node.name), &node.access, &mut grants);
        rows.push(Record::Node(NodeRow {
            hex,
            type_name: node.name,
            object: false,
            owner: owner.hex.to_lowercase(),
            context: Value::Object(node.archetype).to_string(),
            version: 1,
        }));
    }
    // ObjectIds start with their creation time: sorting by id restores creation order.
    let mut edges = documents::<Anchor>(&dir.join("edge.json"))?;
    edges.sort_by(|a, b| a.id.hex.cmp(&b.id.hex));
    for edge in edges {
        let hex = edge.id.hex.to_lowercase();
        let (Some(owner), Some(source), Some(target)) = (edge.root, edge.source, edge.target) else {
            bail!("edge {hex} has no owner, source or target");
        };
        grants_of(&format!("e:{}:{hex}", edge.name), &edge.access, &mut grants);
        rows.push(Record::Edge(EdgeRow {
            hex,
            type_name: edge.name,
            owner: owner.hex.to_lowercase(),
            source: node_ref(&source)?,
            target: node_ref(&target)?,
            context: Value::Object(edge.archetype).to_string(),
            version: 1,
            seq: 0,
        }));
    }
    rows.extend(grants.into_iter().map(Record::Grant));
    Ok(rows)
}

/// A node reference as this server writes it (lowercase hex, the type kept).
fn node_ref(text: &str) -> anyhow::Result<String> {
    match Ref::parse(text) {
        Some(node) if node.kind == Kind::Node => Ok(node.full()),
        _ => bail!("{text} is not a node reference"),
    }
}

fn grants_of(target: &str, access: &Access, grants: &mut Vec<GrantRow>) {
    if let Some(level) = access.all.as_deref().and_then(level) {
        grants.push(GrantRow { target: target.to_string(), grantee: EVERYONE.to_string(), level });
    }
    for (root, name) in &access.roots.anchors {
        if let (Some(level), Some(hex)) = (level(name), root.strip_prefix("n::")) {
            grants.push(GrantRow { target: target.to_string(), grantee: hex.to_lowercase(), level });
        }
    }
}

/// One document per line; a missing file is an empty collection.
fn documents<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("opening {}", path.display())),
    };
    let mut documents = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if !line.trim().is_empty() {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            documents.push(serde_json::from_str(&line).with_context(|| format!("{name}, line {}", number + 1))?);
        }
    }
    Ok(documents)
}
