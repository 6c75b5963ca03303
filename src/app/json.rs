//! Reading JSON request bodies: is it a JSON object at all?
//!
//! Guarantee: every malformed body becomes `INVALID_JSON`; what the fields
//! must be is [`crate::app::bodies`]' decision.

use serde_json::{Map, Value};

use crate::error::Error;

/// A request body that parsed as a JSON object.
#[derive(Debug)]
pub struct JsonObject(Map<String, Value>);

impl JsonObject {
    /// Parses `body` as a JSON object; an empty body counts as `{}` when
    /// `empty_ok` (whitespace alone is no JSON document: `INVALID_JSON`).
    pub fn parse(body: &[u8], empty_ok: bool) -> Result<JsonObject, Error> {
        if empty_ok && body.is_empty() {
            return Ok(JsonObject(Map::new()));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(_) => Err(Error::InvalidJson("The body must be a JSON object.".into())),
            Err(error) => Err(Error::InvalidJson(format!("The body is not valid JSON: {error}."))),
        }
    }

    /// The object as a JSON value, for typed deserialization.
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the contract test: a body of one space was taken for an empty one.
    #[test]
    fn only_an_empty_body_counts_as_an_empty_object() {
        assert!(JsonObject::parse(b"", true).is_ok());
        assert!(JsonObject::parse(b"{}", true).is_ok());
        assert!(JsonObject::parse(b" {} ", true).is_ok());
        for bad in [&b" "[..], b"\n", b"null", b"[]"] {
            assert!(matches!(JsonObject::parse(bad, true), Err(Error::InvalidJson(_))), "{bad:?}");
        }
        assert!(matches!(JsonObject::parse(b"", false), Err(Error::InvalidJson(_))), "where a body is required");
    }
}
