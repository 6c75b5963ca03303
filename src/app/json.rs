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
    /// Parses `body` as a JSON object; an empty body counts as `{}` when `empty_ok`.
    pub fn parse(body: &[u8], empty_ok: bool) -> Result<JsonObject, Error> {
        if empty_ok && body.iter().all(u8::is_ascii_whitespace) {
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
