//! `#[derive(Archetype)]` for walker-sdk: a node (or edge) type named after its struct,
//! as jac names `node Item {}` `Item`; `#[archetype(name = "Other")]` names it otherwise,
//! and `#[archetype(access = "field")]` makes a node type's level for other roots that
//! context field's (jac's `__jac_access__`, for walkers that follow jac-cloud's rules).
//! The name must be one the host accepts (a letter or `_`, then letters, digits or `_`,
//! at most 64: walker-core's `ids::is_type_name`, restated here because a guest's build
//! should not compile the host's crates), which is checked at compile time rather than
//! at the first graph call.

use proc_macro::TokenStream;
use quote::quote;
use syn::{DeriveInput, LitStr, parse_macro_input};

#[proc_macro_derive(Archetype, attributes(archetype))]
pub fn derive_archetype(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match attributes(&input) {
        Ok(Attributes { name, access }) => {
            let ident = &input.ident;
            let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
            let computed = access.map(|field| {
                quote! {
                    ::walker_sdk::__private::inventory::submit! {
                        ::walker_sdk::__private::ComputedAccess { node_type: #name, field: #field }
                    }
                }
            });
            quote! {
                impl #impl_generics ::walker_sdk::graph::Archetype for #ident #type_generics #where_clause {
                    const TYPE: &'static str = #name;
                }
                #computed
            }
            .into()
        }
        Err(err) => err.to_compile_error().into(),
    }
}

/// What `#[archetype(…)]` says.
struct Attributes {
    /// The type's name: the struct's, unless `name = "…"` gives one.
    name: LitStr,
    /// The context field that holds other roots' level (`access = "…"`).
    access: Option<LitStr>,
}

/// The attributes, once the name is valid.
fn attributes(input: &DeriveInput) -> syn::Result<Attributes> {
    let mut name = LitStr::new(&input.ident.to_string(), input.ident.span());
    let mut access = None;
    for attribute in input.attrs.iter().filter(|attribute| attribute.path().is_ident("archetype")) {
        attribute.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                name = meta.value()?.parse()?;
                Ok(())
            } else if meta.path.is_ident("access") {
                access = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error("expected `name = \"…\"` or `access = \"…\"`"))
            }
        })?;
    }
    let value = name.value();
    let mut chars = value.chars();
    let valid = chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && value.len() <= 64;
    if !valid {
        return Err(syn::Error::new(name.span(), format!("{value:?} is not a type name the graph accepts")));
    }
    Ok(Attributes { name, access })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(input: DeriveInput) -> Result<String, String> {
        attributes(&input).map(|attributes| attributes.name.value()).map_err(|err| err.to_string())
    }

    #[test]
    fn a_type_is_named_after_its_struct_unless_named_otherwise() {
        assert_eq!(name_of(syn::parse_quote! { struct Item { name: String } }), Ok("Item".into()));
        let renamed = syn::parse_quote! { #[archetype(name = "Todo_2")] struct Item {} };
        assert_eq!(name_of(renamed), Ok("Todo_2".into()));
    }

    #[test]
    fn a_computed_level_names_its_field_and_keeps_the_type_name() {
        let input = syn::parse_quote! { #[archetype(access = "access", name = "Nested")] struct Inner {} };
        let Attributes { name, access } = attributes(&input).unwrap();
        assert_eq!((name.value(), access.map(|field| field.value())), ("Nested".into(), Some("access".into())));
        let plain = syn::parse_quote! { struct Item {} };
        assert!(attributes(&plain).unwrap().access.is_none());
    }

    #[test]
    fn a_name_the_graph_would_refuse_is_a_compile_error() {
        for bad in [r#"#[archetype(name = "2nd")]"#, r#"#[archetype(name = "a-b")]"#, r#"#[archetype(label = "A")]"#] {
            let input: DeriveInput = syn::parse_str(&format!("{bad} struct Item {{}}")).unwrap();
            assert!(name_of(input).is_err(), "{bad}");
        }
        let long: DeriveInput =
            syn::parse_str(&format!("#[archetype(name = \"{}\")] struct Item {{}}", "a".repeat(65))).unwrap();
        assert!(name_of(long).is_err());
    }
}
