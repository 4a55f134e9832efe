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
use syn::{Data, DeriveInput, Fields, LitStr, parse_macro_input};

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

#[proc_macro_derive(FieldKind)]
pub fn derive_field_kind(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    field_kind(&input).unwrap_or_else(|err| err.to_compile_error()).into()
}

fn field_kind(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let ident = &input.ident;
    let title = ident.to_string();
    let (kind, schema) = match &input.data {
        Data::Struct(data) => {
            let Fields::Named(fields) = &data.fields else {
                return Err(syn::Error::new_spanned(ident, "derive(FieldKind) needs named fields or unit variants"));
            };
            refuse_renames(&input.attrs)?;
            let mut properties = Vec::new();
            for field in &fields.named {
                let (name, has_default) = serde_field(field)?;
                let ty = &field.ty;
                properties.push(quote! {
                    (#name, <#ty as ::walker_sdk::FieldKind>::schema(),
                     !#has_default && !<#ty as ::walker_sdk::FieldKind>::OPTIONAL)
                });
            }
            (quote!(Dict), quote!(::walker_sdk::__private::object_schema(#title, ::std::vec![#(#properties),*])))
        }
        Data::Enum(data) => {
            let mut variants = Vec::new();
            for variant in &data.variants {
                if !matches!(variant.fields, Fields::Unit) {
                    return Err(syn::Error::new_spanned(variant, "derive(FieldKind) needs unit variants"));
                }
                let name = &variant.ident;
                variants.push(quote!(#ident::#name));
            }
            (quote!(Str), quote!(::walker_sdk::__private::enum_schema(#title, &[#(#variants),*])))
        }
        Data::Union(_) => return Err(syn::Error::new_spanned(ident, "derive(FieldKind) needs a struct or an enum")),
    };
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::walker_sdk::FieldKind for #ident #type_generics #where_clause {
            const KIND: ::walker_sdk::FieldType = ::walker_sdk::FieldType::#kind;
            fn schema() -> ::walker_sdk::Value {
                #schema
            }
        }
    })
}

/// A struct's field name as serde reads it (`#[serde(rename = "…")]`), and whether it
/// may be omitted (`#[serde(default)]`).
fn serde_field(field: &syn::Field) -> syn::Result<(LitStr, bool)> {
    let ident = field.ident.as_ref().expect("named fields");
    let mut name = LitStr::new(&ident.to_string(), ident.span());
    let mut has_default = false;
    for attribute in field.attrs.iter().filter(|attribute| attribute.path().is_ident("serde")) {
        attribute.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                name = meta.value()?.parse()?;
            } else if meta.path.is_ident("default") {
                has_default = true;
                if meta.input.peek(syn::Token![=]) {
                    meta.value()?.parse::<LitStr>()?;
                }
            } else {
                return Err(meta.error("derive(FieldKind) reads only serde's `rename` and `default` on a field"));
            }
            Ok(())
        })?;
    }
    Ok((name, has_default))
}

/// A struct's field names are read as written: serde's container attributes that would
/// rename them (or flatten, or tag) would make the schema wrong, so they are refused.
fn refuse_renames(attributes: &[syn::Attribute]) -> syn::Result<()> {
    for attribute in attributes.iter().filter(|attribute| attribute.path().is_ident("serde")) {
        attribute.parse_nested_meta(|meta| {
            if meta.path.is_ident("deny_unknown_fields") || meta.path.is_ident("crate") {
                if meta.input.peek(syn::Token![=]) {
                    meta.value()?.parse::<LitStr>()?;
                }
                Ok(())
            } else {
                Err(meta.error("derive(FieldKind) does not read this serde attribute on a struct"))
            }
        })?;
    }
    Ok(())
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

    #[test]
    fn field_kind_reads_renames_and_defaults_and_refuses_what_it_cannot_document() {
        let line: DeriveInput = syn::parse_quote! {
            struct Line { #[serde(rename = "n")] name: String, #[serde(default)] tags: Vec<String> }
        };
        let code = field_kind(&line).unwrap().to_string();
        assert!(code.contains("\"n\"") && code.contains("true && !"), "{code}");
        let refused: [DeriveInput; 4] = [
            syn::parse_quote! { #[serde(rename_all = "camelCase")] struct Line { name: String } },
            syn::parse_quote! { struct Line { #[serde(flatten)] inner: Inner } },
            syn::parse_quote! { struct Pair(u8, u8); },
            syn::parse_quote! { enum Shape { Dot, Line(u8) } },
        ];
        for input in refused {
            assert!(field_kind(&input).is_err(), "{}", quote!(#input));
        }
    }
}
