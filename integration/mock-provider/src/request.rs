//! Validation helpers shared by the provider request parsers.

use serde_json::{Map, Value};

pub type Object = Map<String, Value>;

/// Parses the body as a JSON object.
pub fn parse_object(body: &[u8]) -> Result<Object, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("The request body must be a JSON object.".to_owned()),
        Err(e) => Err(format!("We could not parse the JSON body of your request. ({e})")),
    }
}

/// An optional boolean field; present but not a boolean is an error.
pub fn opt_bool(obj: &Object, key: &str) -> Result<bool, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("Invalid type for '{key}': expected a boolean.")),
    }
}

/// An optional string field; present but not a string is an error.
pub fn opt_str<'a>(obj: &'a Object, key: &str) -> Result<Option<&'a str>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("Invalid type for '{key}': expected a string.")),
    }
}

/// A required, non-empty array field.
pub fn required_array<'a>(obj: &'a Object, key: &str) -> Result<&'a Value, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(format!("Missing required parameter: '{key}'.")),
        Some(v @ Value::Array(items)) if !items.is_empty() => Ok(v),
        Some(Value::Array(_)) => Err(format!("Invalid '{key}': empty array.")),
        Some(_) => Err(format!("Invalid type for '{key}': expected an array.")),
    }
}

/// An optional non-negative integer field.
pub fn opt_u64(obj: &Object, key: &str) -> Result<Option<u64>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("Invalid type for '{key}': expected a non-negative integer.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_fields() {
        assert!(parse_object(b"[1]").is_err());
        assert!(parse_object(b"{").is_err());
        let o = parse_object(br#"{"s":true,"n":"x","a":[],"b":[1],"i":3}"#).unwrap();
        assert_eq!(opt_bool(&o, "s"), Ok(true));
        assert_eq!(opt_bool(&o, "missing"), Ok(false));
        assert!(opt_bool(&o, "n").is_err());
        assert_eq!(opt_str(&o, "n"), Ok(Some("x")));
        assert!(required_array(&o, "a").is_err());
        assert!(required_array(&o, "b").is_ok());
        assert!(required_array(&o, "missing").is_err());
        assert_eq!(opt_u64(&o, "i"), Ok(Some(3)));
        assert!(opt_u64(&o, "n").is_err());
    }
}
