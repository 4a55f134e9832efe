//! Write jac-cloud walkers as WebAssembly components in a few lines of Rust.
//!
//! A walker is a struct of serde fields (the walker's context, validated by the host
//! against the declared types) and one function. [`walker!`] declares the struct and
//! its fields, [`Walker`] gives its name, spec and behaviour, and [`export_walkers!`]
//! exports every walker the crate declares as one component, without naming them. No
//! WIT knowledge is needed.
//!
//! ```no_run
//! use walker_sdk::{export_walkers, json, walker, Context, Method, Result, Spec, Walker};
//!
//! walker! {
//!     /// Sends a chat message to every connection of a channel; anyone may call it.
//!     pub struct PublicGroup {
//!         channel_id: String,
//!         msg: String = "hi",
//!     }
//! }
//!
//! impl Walker for PublicGroup {
//!     const NAME: &'static str = "public_group";
//!
//!     fn spec() -> Spec {
//!         Spec::new().methods([Method::Websocket, Method::Post]).public()
//!     }
//!
//!     fn run(self, cx: &mut Context) -> Result {
//!         cx.notify_channels([&self.channel_id], &json!({"type": "chat", "data": {"message": self.msg}}));
//!         cx.report("sent");
//!         Ok(())
//!     }
//! }
//!
//! export_walkers!();
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2` (crate type `cdylib`) and drop the
//! `.wasm` into the server's `walkers/` directory.

// The bindings name this crate by its public path, so they work from walker crates too.
extern crate self as walker_sdk;

mod context;
mod fields;
pub mod graph;
mod input;
mod spec;
mod walk;

/// The jac-cloud type of a field, for a [`FieldKind`] of your own.
pub use bindings::jac::walker::types::FieldType;
pub use context::{Context, Error, ErrorKind, Result};
pub use fields::{Field, FieldKind, Fields};
pub use serde_json::{Value, json};
pub use spec::{EntryType, Method, Spec};
pub use walk::{Abilities, NodeAbilities, Outcome};
/// Derives [`FieldKind`](trait@FieldKind) for a struct of named fields or an enum of unit
/// variants (which must also derive `Serialize`: its values are serde's names).
pub use walker_sdk_derive::FieldKind;

/// Who runs the walker: connection ids, root, transport.
pub use bindings::jac::walker::types::{Caller, Transport};

/// The WIT bindings, generated from `wit/walker.wit`.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)] // `spawn`'s, as the WIT declares it
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "walkers",
        pub_export_macro: true,
        default_bindings_module: "walker_sdk::bindings",
        runtime_path: "walker_sdk::__private::wit_bindgen::rt",
    });
}

/// Settings and secrets of the walker's tenant, set by the operator in the tenants file.
/// A walker reads only the names its spec declares ([`Spec::vars`]).
pub mod config {
    pub use crate::bindings::jac::walker::config::Error;

    /// The variable's value; `Error::Denied` if the spec does not declare it,
    /// `Error::Undefined` if the tenant does not set it.
    pub fn get(name: &str) -> Result<String, Error> {
        crate::bindings::jac::walker::config::get(name)
    }
}

/// Log lines that end up in the host's log, tagged with the walker's name.
pub mod log {
    use crate::bindings::jac::walker::log::{Level, log};

    pub fn debug(message: &str) {
        log(Level::Debug, message)
    }
    pub fn info(message: &str) {
        log(Level::Info, message)
    }
    pub fn warn(message: &str) {
        log(Level::Warn, message)
    }
    pub fn error(message: &str) {
        log(Level::Error, message)
    }
}

/// A walker: its context fields (declared with [`walker!`]), its name, how it may be
/// called and what it does: its [`abilities`](Walker::abilities) as it walks the graph,
/// as jac declares them, or one [`run`](Walker::run) function.
pub trait Walker: serde::de::DeserializeOwned + Fields + 'static {
    /// The name clients call it by (`"walker": "<name>"`, `/walker/<name>`).
    const NAME: &'static str;

    /// How the walker may be called. The default is jac-cloud's: `post`, signed-in callers.
    fn spec() -> Spec {
        Spec::new()
    }

    /// What it does at each node it visits (see [`Abilities`]); it starts at the entry node.
    fn abilities(_on: &mut Abilities<Self>) {}

    /// Runs the walker: by default, walks from the entry node with its abilities.
    /// Reports, status and notifications go through `cx`; an `Err` reaches the caller as
    /// a walker error.
    fn run(self, cx: &mut Context) -> Result {
        walk::walk(self, cx)
    }
}

/// Declares a walker's context struct: serde fields with optional defaults.
///
/// Field types map to jac-cloud's: `String` → str, integers → int, floats → float,
/// `bool`, `Vec<_>` → list, maps → dict, `Value` → any. `Option<_>` fields default to null.
#[macro_export]
macro_rules! walker {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:ty $(= $default:expr)? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive($crate::__private::serde::Deserialize)]
        #[serde(crate = "walker_sdk::__private::serde")]
        $vis struct $name {
            $( $(#[$field_meta])* $field_vis $field: $ty ),*
        }

        impl $crate::Fields for $name {
            fn fields() -> ::std::vec::Vec<$crate::Field> {
                ::std::vec![$(
                    $crate::Field::new::<$ty>(
                        ::core::stringify!($field),
                        $crate::__default_json!($ty $(, $default)?),
                    )
                ),*]
            }
        }

        $crate::__private::inventory::submit! { $crate::__private::Registered::of::<$name>() }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __default_json {
    ($ty:ty) => {
        ::core::option::Option::None
    };
    ($ty:ty, $default:expr) => {{
        let value: $ty = $crate::__private::IntoDefault::into_default($default);
        ::core::option::Option::Some($crate::__private::to_json(&value))
    }};
}

/// Exports every walker the crate declares with [`walker!`] as this crate's component,
/// with the node types whose own abilities ([`NodeAbilities`]) walkers trigger after
/// `nodes:`. Call it once per crate.
///
/// ```ignore
/// export_walkers!();               // every walker! of the crate
/// export_walkers!(nodes: Step);    // and the abilities of node type Step
/// ```
#[macro_export]
macro_rules! export_walkers {
    ($(nodes: $($node:ty),* $(,)?)?) => {
        struct __ExportedWalkers;

        fn __reactions() -> ::std::vec::Vec<$crate::__private::Reactions> {
            ::std::vec![$($($crate::__private::Reactions::of::<$node>()),*)?]
        }

        impl $crate::bindings::Guest for __ExportedWalkers {
            fn walkers() -> ::std::vec::Vec<$crate::bindings::jac::walker::types::WalkerSpec> {
                $crate::__private::specs()
            }

            fn run(
                name: ::std::string::String,
                caller: $crate::Caller,
                context: ::std::string::String,
            ) -> ::core::result::Result<
                $crate::bindings::jac::walker::types::Response,
                ::std::string::String,
            > {
                $crate::__private::run_named(&name, caller, &context, __reactions())
            }
        }

        $crate::bindings::export!(__ExportedWalkers with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use wit_bindgen;

    pub use crate::walk::Reactions;

    use crate::bindings::jac::walker::declare;
    use crate::bindings::jac::walker::types::{Response, WalkerSpec};
    use crate::{Caller, Context, Field, Walker};

    /// Lets a `String` field default to a string literal; other defaults are taken as they are.
    pub trait IntoDefault<T> {
        fn into_default(self) -> T;
    }

    impl<T> IntoDefault<T> for T {
        fn into_default(self) -> T {
            self
        }
    }

    impl IntoDefault<String> for &str {
        fn into_default(self) -> String {
            self.to_string()
        }
    }

    pub fn to_json<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_string(value).expect("a default value serializes to JSON")
    }

    /// `#[derive(FieldKind)]`'s schema of a struct: (name, schema, required) per field,
    /// as pydantic documents a model.
    pub fn object_schema(title: &str, fields: Vec<(&str, serde_json::Value, bool)>) -> serde_json::Value {
        let required: Vec<&str> = fields.iter().filter(|(_, _, required)| *required).map(|(name, ..)| *name).collect();
        let properties: serde_json::Map<String, serde_json::Value> =
            fields.into_iter().map(|(name, schema, _)| (name.to_string(), schema)).collect();
        serde_json::json!({"type": "object", "title": title, "properties": properties, "required": required})
    }

    /// `#[derive(FieldKind)]`'s schema of an enum of unit variants: their values as
    /// serde writes them.
    pub fn enum_schema<T: serde::Serialize>(title: &str, variants: &[T]) -> serde_json::Value {
        let values: Vec<serde_json::Value> =
            variants.iter().map(|variant| serde_json::to_value(variant).expect("a unit variant serializes")).collect();
        serde_json::json!({"type": "string", "title": title, "enum": values})
    }

    pub use inventory;

    /// A walker that `walker!` declared, found by `export_walkers!` through `inventory`:
    /// its registrations run as the component's constructors, which wit-bindgen's exports
    /// call once before the first export runs.
    pub struct Registered {
        name: &'static str,
        /// Its spec, and whether it follows jac-cloud's access rules.
        spec: fn() -> (WalkerSpec, bool),
        run: fn(Caller, &str, Vec<Reactions>) -> Result<Response, String>,
    }

    impl Registered {
        pub const fn of<W: Walker>() -> Self {
            Registered { name: W::NAME, spec: spec_of::<W>, run: run::<W> }
        }
    }

    inventory::collect!(Registered);

    /// A node type whose level for other roots is one of its fields, as
    /// `#[archetype(access = "field")]` declares it.
    pub struct ComputedAccess {
        pub node_type: &'static str,
        pub field: &'static str,
    }

    inventory::collect!(ComputedAccess);

    /// Every registered walker's spec, by name (registration order is the linker's);
    /// declares to the host which follow jac-cloud's access rules.
    pub fn specs() -> Vec<WalkerSpec> {
        let mut jac_cloud = Vec::new();
        let mut specs: Vec<WalkerSpec> = inventory::iter::<Registered>
            .into_iter()
            .map(|walker| {
                let (spec, follows_jac_cloud) = (walker.spec)();
                if follows_jac_cloud {
                    jac_cloud.push(spec.name.clone());
                }
                spec
            })
            .collect();
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        if !jac_cloud.is_empty() {
            let computed: Vec<declare::ComputedAccess> = inventory::iter::<ComputedAccess>
                .into_iter()
                .map(|access| declare::ComputedAccess {
                    node_type: access.node_type.into(),
                    field: access.field.into(),
                })
                .collect();
            declare::jac_cloud_access(&jac_cloud, &computed);
        }
        specs
    }

    pub fn run_named(name: &str, caller: Caller, context: &str, reactions: Vec<Reactions>) -> Result<Response, String> {
        match inventory::iter::<Registered>.into_iter().find(|walker| walker.name == name) {
            Some(walker) => (walker.run)(caller, context, reactions),
            None => Err(format!("no walker named {name}")),
        }
    }

    /// Its spec, and whether it follows jac-cloud's access rules; declares to the host
    /// the schemas of the fields whose types say more than jac-cloud's type names, and
    /// jac-cloud's other spec options when any is set.
    fn spec_of<W: Walker>() -> (WalkerSpec, bool) {
        let spec = W::spec();
        let follows_jac_cloud = spec.follows_jac_cloud_access();
        let fields = W::fields();
        let schemas: Vec<declare::FieldSchema> = fields.iter().filter_map(Field::declared_schema).collect();
        if !schemas.is_empty() {
            declare::field_schemas(W::NAME, &schemas);
        }
        if let Some(options) = spec.declared_options(W::NAME) {
            declare::spec_options(&options);
        }
        (spec.into_wit(W::NAME, fields), follows_jac_cloud)
    }

    fn run<W: Walker>(caller: Caller, context: &str, reactions: Vec<Reactions>) -> Result<Response, String> {
        let walker: W = match crate::input::read(context) {
            Ok(walker) => walker,
            Err(refusal) => return Ok(refusal),
        };
        let mut cx = Context::new(caller, reactions);
        walker.run(&mut cx).map_err(|err| err.to_string())?;
        Ok(cx.into_response())
    }
}
