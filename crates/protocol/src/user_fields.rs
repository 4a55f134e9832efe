//! The app's own user fields, as a jac-cloud app declares them by subclassing `User`
//! (`has name: str;`): named with their types on `--user-fields` (`name:str`,
//! `age:int=0`, `nick:str?`) or declared by a component (a Jac app's `User` class),
//! validated at registration as walker fields are, stored with the account, returned at
//! login in `user` and carried in the token, as jac-cloud's `User.serialize()` is.

use serde_json::{Map, Value};
use walker_runtime::catalog::Snapshot;
use walker_runtime::{FieldError, FieldSpec, FieldType, RESERVED_USER_FIELDS, is_user_field_name, validate_fields};

/// One `--user-fields` entry: `name:type`, then optionally `?` (may be omitted: null) or
/// `=<JSON default>`. Types are jac-cloud's: str, int, float, bool, list, dict, any.
pub fn parse(text: &str) -> Result<FieldSpec, String> {
    let (name, rest) = text.split_once(':').ok_or("expected name:type, such as name:str")?;
    let name = name.trim();
    if RESERVED_USER_FIELDS.contains(&name) {
        return Err(format!("{name:?} is one of jac-cloud's own user fields"));
    }
    if !is_user_field_name(name) {
        return Err(format!("{name:?} is not a field name"));
    }
    let (kind, default) = match rest.split_once('=') {
        Some((kind, default)) => {
            let default =
                serde_json::from_str(default.trim()).map_err(|_| format!("the default of {name} is not JSON"))?;
            (kind, Some(default))
        }
        None => match rest.trim().strip_suffix('?') {
            Some(kind) => (kind, Some(Value::Null)),
            None => (rest, None),
        },
    };
    let kind = match kind.trim() {
        "str" => FieldType::Str,
        "int" => FieldType::Int,
        "float" => FieldType::Float,
        "bool" => FieldType::Bool,
        "list" => FieldType::List,
        "dict" => FieldType::Dict,
        "any" => FieldType::Any,
        other => return Err(format!("{other:?} is not a type (str, int, float, bool, list, dict, any)")),
    };
    Ok(FieldSpec { name: name.to_string(), kind, default, schema: None, excluded: false })
}

/// The app's user fields now: the server's (`--user-fields`), then those the loaded
/// components declare (a Jac app's `User` class) under other names.
pub fn current(configured: &[FieldSpec], snapshot: &Snapshot) -> Vec<FieldSpec> {
    let mut fields = configured.to_vec();
    let declared = snapshot.user_fields().into_iter();
    fields.extend(declared.filter(|field| !configured.iter().any(|known| known.name == field.name)));
    fields
}

/// A registration body's user fields, validated and completed with defaults; errors with
/// jac-cloud's `loc` (`["body", name]`). At most `max_bytes` of JSON: they ride in every
/// token.
pub fn read(
    fields: &[FieldSpec],
    body: &Map<String, Value>,
    max_bytes: usize,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let values = validate_fields(fields, body).map_err(|errors| FieldError::located(errors, |_| "body"))?;
    let bytes = serde_json::to_string(&values).map_or(usize::MAX, |json| json.len());
    if bytes > max_bytes {
        let msg = format!("the user fields take {bytes} bytes of JSON, more than {max_bytes}");
        return Err(vec![FieldError::new("too_long", vec!["body".into()], msg, None)]);
    }
    Ok(values)
}

/// An imported account's user fields (from jac-cloud's store), checked as `read` checks
/// a registration: keys the app does not declare are dropped; the error names each
/// field refused and why.
pub fn read_imported(
    fields: &[FieldSpec],
    values: &Map<String, Value>,
    max_bytes: usize,
) -> Result<Map<String, Value>, String> {
    read(fields, values, max_bytes).map_err(|errors| {
        let each = errors.iter().map(|error| {
            let at: Vec<String> =
                (error.loc.iter().skip(1)).map(|part| part.as_str().unwrap_or("?").to_string()).collect();
            if at.is_empty() { error.msg.to_string() } else { format!("{}: {}", at.join("."), error.msg) }
        });
        each.collect::<Vec<_>>().join("; ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entries_name_a_type_and_make_a_field_optional_or_give_a_default() {
        let name = parse("name:str").unwrap();
        assert_eq!((name.name.as_str(), name.kind, name.default), ("name", FieldType::Str, None));
        assert_eq!(parse("nick: str?").unwrap().default, Some(Value::Null));
        assert_eq!(parse("age:int=0").unwrap().default, Some(json!(0)));
        for bad in ["name", "name:text", "2nd:str", "email:str", "age:int=zero"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_body_is_validated_with_jac_clouds_loc_and_bounded() {
        let fields = [parse("name:str").unwrap(), parse("age:int=0").unwrap()];
        let body = |value: Value| value.as_object().unwrap().clone();
        let read_ok = read(&fields, &body(json!({"name": "Ada", "email": "a@b.c"})), 1024).unwrap();
        assert_eq!(Value::Object(read_ok), json!({"name": "Ada", "age": 0}));
        let missing = read(&fields, &body(json!({})), 1024).unwrap_err();
        assert_eq!((missing[0].kind.as_ref(), missing[0].loc.clone()), ("missing", vec![json!("body"), json!("name")]));
        let wrong = read(&fields, &body(json!({"name": "Ada", "age": "old"})), 1024).unwrap_err();
        assert_eq!(wrong[0].loc, vec![json!("body"), json!("age")]);
        assert_eq!(read(&fields, &body(json!({"name": "x".repeat(2000)})), 1024).unwrap_err()[0].kind, "too_long");
    }

    #[test]
    fn imported_fields_keep_only_what_the_app_declares_checked() {
        let fields = [parse("name:str").unwrap()];
        let body = |value: Value| value.as_object().unwrap().clone();
        let jac_cloud_user = body(json!({"name": "Bob", "exp": 1, "is_admin": true, "sso": {}}));
        assert_eq!(Value::Object(read_imported(&fields, &jac_cloud_user, 1024).unwrap()), json!({"name": "Bob"}));
        assert_eq!(read_imported(&fields, &body(json!({"exp": 1})), 1024).unwrap_err(), "name: Field required");
        assert!(read_imported(&fields, &body(json!({"name": "x".repeat(2000)})), 1024).unwrap_err().contains("bytes"));
    }
}
