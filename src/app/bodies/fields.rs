//! The text fields of the admin bodies, each valid by construction: name,
//! scopes, expiry, meta.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::record::{parse_rfc3339, UnixMillis};
use crate::scope::Scope;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_SCOPES: usize = 64;
pub const MAX_META_BYTES: usize = 1024;

/// `name`: 1 to 100 characters, not blank, without control characters.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Name(pub(super) String);

impl TryFrom<String> for Name {
    type Error = &'static str;

    fn try_from(text: String) -> Result<Name, &'static str> {
        let chars = text.chars().count();
        if text.trim().is_empty() || chars > MAX_NAME_CHARS || text.chars().any(char::is_control) {
            return Err("Must be 1 to 100 characters, not blank, without control characters.");
        }
        Ok(Name(text))
    }
}

/// `scopes`: at most 64 well-formed scopes, written canonically, duplicates dropped, order kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct Scopes(pub(super) Vec<String>);

impl TryFrom<Vec<String>> for Scopes {
    type Error = String;

    fn try_from(texts: Vec<String>) -> Result<Scopes, String> {
        if texts.len() > MAX_SCOPES {
            return Err(format!("At most {MAX_SCOPES} scopes."));
        }
        let mut scopes: Vec<String> = Vec::with_capacity(texts.len());
        for (index, text) in texts.iter().enumerate() {
            let scope = Scope::parse(text).map_err(|e| format!("The scope at index {index}: {e}."))?.to_string();
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Ok(Scopes(scopes))
    }
}

/// `expires_at`: an RFC 3339 timestamp, any offset (that it is in the future is checked against the clock).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub struct Timestamp(UnixMillis);

impl TryFrom<String> for Timestamp {
    type Error = &'static str;

    fn try_from(text: String) -> Result<Timestamp, &'static str> {
        parse_rfc3339(&text).map(Timestamp).ok_or("Must be an RFC 3339 timestamp, e.g. 2030-01-01T00:00:00Z.")
    }
}

impl Timestamp {
    pub(super) fn in_the_future(self, now: UnixMillis) -> Result<UnixMillis, Error> {
        if self.0 <= now {
            return Err(Error::validation("expires_at", "Must be in the future."));
        }
        Ok(self.0)
    }
}

/// `meta`: a JSON object of at most 1 KiB as JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub struct Meta(pub(super) Map<String, Value>);

impl TryFrom<Map<String, Value>> for Meta {
    type Error = String;

    fn try_from(object: Map<String, Value>) -> Result<Meta, String> {
        if Value::Object(object.clone()).to_string().len() > MAX_META_BYTES {
            return Err(format!("Must be at most {MAX_META_BYTES} bytes as JSON."));
        }
        Ok(Meta(object))
    }
}
