//! jac-cloud's ids: nodes `n:<Type>:<24 hex>`, roots `n::<24 hex>`, edges `e:<Type>:<24 hex>`
//! (`e::<24 hex>` untyped), objects `o:<Type>:<24 hex>`. The 24 hex have the shape of
//! MongoDB's ObjectIds, so jac-cloud's store imports as it is, but new ones are random
//! (see `new_hex`). Also the public root, and roots' wire form.

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Node,
    Edge,
    /// A persisted plain object (jac's `obj`): never an edge's end.
    Object,
}

/// A parsed id: its kind, its type name (`""` for roots and untyped edges) and its hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    pub kind: Kind,
    pub type_name: String,
    pub hex: String,
}

impl Ref {
    pub fn parse(id: &str) -> Option<Ref> {
        let mut parts = id.splitn(3, ':');
        let kind = match parts.next()? {
            "n" | "N" => Kind::Node,
            "e" | "E" => Kind::Edge,
            "o" | "O" => Kind::Object,
            _ => return None,
        };
        let type_name = parts.next()?;
        let hex = parts.next()?;
        let untyped_allowed = kind != Kind::Object;
        if !((untyped_allowed && type_name.is_empty()) || is_type_name(type_name)) || !is_hex24(hex) {
            return None;
        }
        Some(Ref { kind, type_name: type_name.to_string(), hex: hex.to_ascii_lowercase() })
    }

    /// Whether this names a root node.
    pub fn is_root(&self) -> bool {
        self.kind == Kind::Node && self.type_name.is_empty()
    }

    /// The id in its canonical form (lowercase hex).
    pub fn full(&self) -> String {
        match self.kind {
            Kind::Node => node_id(&self.type_name, &self.hex),
            Kind::Edge => edge_id(&self.type_name, &self.hex),
            Kind::Object => object_id(&self.type_name, &self.hex),
        }
    }
}

pub fn node_id(type_name: &str, hex: &str) -> String {
    format!("n:{type_name}:{hex}")
}

pub fn edge_id(type_name: &str, hex: &str) -> String {
    format!("e:{type_name}:{hex}")
}

pub fn object_id(type_name: &str, hex: &str) -> String {
    format!("o:{type_name}:{hex}")
}

/// A jac identifier, as archetype names are: `[A-Za-z_][A-Za-z0-9_]{0,63}`.
pub fn is_type_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

fn is_hex24(hex: &str) -> bool {
    hex.len() == 24 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A fresh 24-hex id: 96 random bits from a CSPRNG the operating system seeds (rand's `ThreadRng`). Not
/// MongoDB's layout (seconds, a per-process part, a counter): under jac-cloud's access
/// rules a node is loaded by id alone, so an id must not be guessable from the ids made
/// around it.
pub fn new_hex() -> String {
    random_hex(12)
}

/// The root every anonymous caller shares.
pub const PUBLIC_ROOT: &str = "000000000000000000000001";

/// A root id as 24 lowercase hex, from `n::<hex>` or bare `<hex>`.
pub fn parse_root(id: &str) -> Option<String> {
    let hex = id.strip_prefix("n::").unwrap_or(id);
    (hex.len() == 24 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hex.to_ascii_lowercase())
}

/// The wire form of a root id, `n::<hex>`.
pub fn wire_root(hex: &str) -> String {
    format!("n::{hex}")
}

/// `bytes` random bytes as hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_jac_cloud_writes_them() {
        let item = Ref::parse("n:Item:0123456789ABCDEF01234567").unwrap();
        assert_eq!(
            (item.kind, item.type_name.as_str(), item.hex.as_str()),
            (Kind::Node, "Item", "0123456789abcdef01234567")
        );
        assert!(Ref::parse("n::0123456789abcdef01234567").unwrap().is_root());
        assert_eq!(Ref::parse("e::0123456789abcdef01234567").unwrap().kind, Kind::Edge);
        assert_eq!(Ref::parse("o:Saved:0123456789abcdef01234567").unwrap().kind, Kind::Object);
        for bad in [
            "",
            "n:Item",
            "n:Item:123",
            "x:Item:0123456789abcdef01234567",
            "o::0123456789abcdef01234567",
            "n:1tem:0123456789abcdef01234567",
            "n:It-em:0123456789abcdef01234567",
        ] {
            assert!(Ref::parse(bad).is_none(), "{bad}");
        }
        let (a, b) = (new_hex(), new_hex());
        assert!(is_hex24(&a) && a != b);
    }

    #[test]
    fn ids_made_together_share_no_predictable_part() {
        // MongoDB's layout shares 9 of 12 bytes (seconds, process) between ids made in the
        // same second; random ones about one byte in 256.
        let ids: Vec<Vec<u8>> = (0..64).map(|_| hex::decode(new_hex()).unwrap()).collect();
        let same: usize = ids.windows(2).map(|pair| pair[0].iter().zip(&pair[1]).filter(|(a, b)| a == b).count()).sum();
        assert!(same < 63 * 3, "{same} bytes equal across 63 neighbouring pairs");
    }
}
