//! Declared walker fields: name, jac-cloud type, JSON Schema and default, derived from
//! Rust types.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::bindings::jac::walker::declare::FieldSchema;
use crate::bindings::jac::walker::types::{self as wit, FieldType};

/// One field of a walker's context, as the host sees it.
#[derive(Debug, Clone)]
pub struct Field {
    name: &'static str,
    kind: FieldType,
    /// Its JSON Schema, which documents what `kind` leaves out (a range, a nested type).
    schema: Value,
    /// JSON text of the default; `None` makes the field required.
    default: Option<String>,
}

impl Field {
    pub fn new<T: FieldKind>(name: &'static str, default: Option<String>) -> Self {
        let default = default.or_else(|| T::OPTIONAL.then(|| "null".to_string()));
        Field { name, kind: T::KIND, schema: T::schema(), default }
    }

    /// Its schema for the host, if it says more than the type the host checks.
    pub(crate) fn declared_schema(&self) -> Option<FieldSchema> {
        (self.schema != kind_schema(self.kind))
            .then(|| FieldSchema { field: self.name.to_string(), schema: self.schema.to_string() })
    }

    pub(crate) fn into_wit(self) -> wit::Field {
        wit::Field { name: self.name.to_string(), type_: self.kind, default: self.default }
    }
}

/// Implemented by [`walker!`](crate::walker): the struct's fields.
pub trait Fields {
    fn fields() -> Vec<Field>;
}

/// The jac-cloud type of a Rust field type, and its JSON Schema. The host checks the
/// top-level type; what else a type requires (its fields, its variants, a `u8`'s range)
/// is checked before the walker runs, a mismatch answered 422 as jac-cloud answers it,
/// and the schema documents it in `/openapi.json`. For a struct or an enum of unit
/// variants of your own, derive it ([`FieldKind`](derive@crate::FieldKind)); or
/// implement it by hand:
///
/// ```no_run
/// use walker_sdk::{FieldKind, FieldType, Value, json};
///
/// #[derive(serde::Deserialize)]
/// struct Percent(u8);
///
/// impl FieldKind for Percent {
///     const KIND: FieldType = FieldType::Int;
///     fn schema() -> Value {
///         json!({"type": "integer", "minimum": 0, "maximum": 100})
///     }
/// }
/// ```
pub trait FieldKind {
    const KIND: FieldType;
    /// `Option<_>`: the field may be omitted or null.
    const OPTIONAL: bool = false;

    /// Its JSON Schema; by default, `KIND`'s.
    fn schema() -> Value {
        kind_schema(Self::KIND)
    }
}

/// The JSON Schema of a jac-cloud type, as the host documents a field of that type.
fn kind_schema(kind: FieldType) -> Value {
    match kind {
        FieldType::Str => json!({"type": "string"}),
        FieldType::Int => json!({"type": "integer"}),
        FieldType::Float => json!({"type": "number"}),
        FieldType::Bool => json!({"type": "boolean"}),
        FieldType::List => json!({"type": "array"}),
        FieldType::Dict => json!({"type": "object"}),
        FieldType::Any => json!({}),
    }
}

macro_rules! field_kind {
    ($kind:ident: $($ty:ty),+) => {
        $(impl FieldKind for $ty { const KIND: FieldType = FieldType::$kind; })+
    };
}

field_kind!(Str: String);
field_kind!(Int: i64, i128);
field_kind!(Float: f32, f64);
field_kind!(Bool: bool);
field_kind!(Dict: serde_json::Map<String, serde_json::Value>);
field_kind!(Any: serde_json::Value);

/// Integers narrower than `i64` (the host's own range for an int), with their ranges.
macro_rules! ranged_int {
    ($($ty:ty),+) => {
        $(impl FieldKind for $ty {
            const KIND: FieldType = FieldType::Int;
            fn schema() -> Value {
                json!({"type": "integer", "minimum": <$ty>::MIN, "maximum": <$ty>::MAX})
            }
        })+
    };
}

ranged_int!(i8, i16, i32, isize, u8, u16, u32, usize);

/// Unsigned integers as wide as `i64` or wider: their bound is 0.
macro_rules! unsigned_int {
    ($($ty:ty),+) => {
        $(impl FieldKind for $ty {
            const KIND: FieldType = FieldType::Int;
            fn schema() -> Value {
                json!({"type": "integer", "minimum": 0})
            }
        })+
    };
}

unsigned_int!(u64, u128);

impl FieldKind for char {
    const KIND: FieldType = FieldType::Str;
    fn schema() -> Value {
        json!({"type": "string", "minLength": 1, "maxLength": 1})
    }
}

impl<T: FieldKind> FieldKind for Vec<T> {
    const KIND: FieldType = FieldType::List;
    fn schema() -> Value {
        json!({"type": "array", "items": T::schema()})
    }
}

impl<V: FieldKind> FieldKind for HashMap<String, V> {
    const KIND: FieldType = FieldType::Dict;
    fn schema() -> Value {
        json!({"type": "object", "additionalProperties": V::schema()})
    }
}

impl<V: FieldKind> FieldKind for BTreeMap<String, V> {
    const KIND: FieldType = FieldType::Dict;
    fn schema() -> Value {
        HashMap::<String, V>::schema()
    }
}

/// As pydantic writes `Optional[T]`.
impl<T: FieldKind> FieldKind for Option<T> {
    const KIND: FieldType = T::KIND;
    const OPTIONAL: bool = true;
    fn schema() -> Value {
        json!({"anyOf": [T::schema(), {"type": "null"}]})
    }
}
