//! Declared walker fields: name, jac-cloud type and default, derived from Rust types.

use std::collections::{BTreeMap, HashMap};

use crate::bindings::jac::walker::types::{self as wit, FieldType};

/// One field of a walker's context, as the host sees it.
#[derive(Debug, Clone)]
pub struct Field {
    name: &'static str,
    kind: FieldType,
    /// JSON text of the default; `None` makes the field required.
    default: Option<String>,
}

impl Field {
    pub fn new<T: FieldKind>(name: &'static str, default: Option<String>) -> Self {
        let default = default.or_else(|| T::OPTIONAL.then(|| "null".to_string()));
        Field { name, kind: T::KIND, default }
    }

    pub(crate) fn into_wit(self) -> wit::Field {
        wit::Field { name: self.name.to_string(), type_: self.kind, default: self.default }
    }
}

/// Implemented by [`walker!`](crate::walker): the struct's fields.
pub trait Fields {
    fn fields() -> Vec<Field>;
}

/// The jac-cloud type of a Rust field type. Implement it for a struct or enum of your
/// own used as a field (`Dict` for a struct, `Str` for an enum of unit variants): the
/// host checks the top-level type, and what else your type requires (its fields, its
/// variants, a `u8`'s range) is checked before the walker runs, a mismatch answered 422
/// as jac-cloud answers it.
///
/// ```no_run
/// use walker_sdk::{FieldKind, FieldType};
///
/// #[derive(serde::Deserialize)]
/// enum Colour { Red, Green }
///
/// impl FieldKind for Colour {
///     const KIND: FieldType = FieldType::Str;
/// }
/// ```
pub trait FieldKind {
    const KIND: FieldType;
    /// `Option<_>`: the field may be omitted or null.
    const OPTIONAL: bool = false;
}

macro_rules! field_kind {
    ($kind:ident: $($ty:ty),+) => {
        $(impl FieldKind for $ty { const KIND: FieldType = FieldType::$kind; })+
    };
}

field_kind!(Str: String, char);
field_kind!(Int: i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);
field_kind!(Float: f32, f64);
field_kind!(Bool: bool);
field_kind!(Dict: serde_json::Map<String, serde_json::Value>);
field_kind!(Any: serde_json::Value);

impl<T> FieldKind for Vec<T> {
    const KIND: FieldType = FieldType::List;
}

impl<V> FieldKind for HashMap<String, V> {
    const KIND: FieldType = FieldType::Dict;
}

impl<V> FieldKind for BTreeMap<String, V> {
    const KIND: FieldType = FieldType::Dict;
}

impl<T: FieldKind> FieldKind for Option<T> {
    const KIND: FieldType = T::KIND;
    const OPTIONAL: bool = true;
}
