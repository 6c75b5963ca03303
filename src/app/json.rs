//! Reading JSON request bodies field by field.
//!
//! Guarantee: every malformed body becomes `INVALID_JSON` and every wrong
//! field `VALIDATION_ERROR` naming the field; messages never echo values,
//! which may be secrets.

use serde_json::{Map, Value};

use crate::error::Error;

/// A request body that parsed as a JSON object.
#[derive(Debug)]
pub struct JsonObject(Map<String, Value>);

/// A field that may be absent, explicitly `null`, or set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    Absent,
    Null,
    Present(&'a Value),
}

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

    /// Refuses any field not in `allowed`, so a typo never silently drops a constraint.
    pub fn only(self, allowed: &[&str]) -> Result<JsonObject, Error> {
        match self.0.keys().find(|key| !allowed.contains(&key.as_str())) {
            Some(unknown) => {
                let shown: String = unknown.chars().take(64).collect();
                Err(Error::validation(&shown, format!("Unknown field; this route takes {}.", allowed.join(", "))))
            }
            None => Ok(self),
        }
    }

    pub fn field(&self, name: &str) -> Field<'_> {
        match self.0.get(name) {
            None => Field::Absent,
            Some(Value::Null) => Field::Null,
            Some(value) => Field::Present(value),
        }
    }

    /// A string field; `null` counts as absent.
    pub fn optional_str(&self, name: &str) -> Result<Option<&str>, Error> {
        match self.field(name) {
            Field::Absent | Field::Null => Ok(None),
            Field::Present(Value::String(text)) => Ok(Some(text)),
            Field::Present(_) => Err(Error::validation(name, "Must be a string.")),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
