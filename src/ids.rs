//! The identifiers of the data model: a key's public id, a project id, and
//! the id of a key's owner (the customer whose keys share limits).
//!
//! Guarantee: a [`KeyId`], [`ProjectId`] or [`OwnerId`] that exists is
//! well-formed; they are made only by parsing (serde goes through the same
//! check) or, for a key id, by [`KeyId::generate`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::slug::{is_slug, First};

const KEY_ID_PREFIX: &str = "key_";
const KEY_ID_LEN: usize = 22;
const PROJECT_ID_MAX_LEN: usize = 64;
const OWNER_ID_MAX_LEN: usize = 128;

/// A key's public id: `key_` + 22 base62 characters. It says nothing of the secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

/// A project id: `[a-z0-9][a-z0-9_-]{0,63}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectId(String);

/// A key's owner, as the deployment names its customers: `[A-Za-z0-9._:-]{1,128}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OwnerId(String);

/// Why a text is not an identifier (it never repeats the text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId(pub &'static str);

impl fmt::Display for InvalidId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.0)
    }
}

impl KeyId {
    pub const SHAPE: &'static str = "A key id is key_ followed by 22 letters and digits.";

    pub fn parse(text: &str) -> Result<KeyId, InvalidId> {
        let well_formed = text
            .strip_prefix(KEY_ID_PREFIX)
            .is_some_and(|rest| rest.len() == KEY_ID_LEN && rest.bytes().all(|byte| byte.is_ascii_alphanumeric()));
        if well_formed {
            Ok(KeyId(text.to_owned()))
        } else {
            Err(InvalidId(KeyId::SHAPE))
        }
    }

    /// The id of a record that [`KeyId::generate`] has yet to name: never stored.
    pub(crate) fn placeholder() -> KeyId {
        KeyId(String::new())
    }

    /// A new random id.
    pub fn generate() -> Result<KeyId, getrandom::Error> {
        let mut id = String::with_capacity(KEY_ID_PREFIX.len() + KEY_ID_LEN);
        id.push_str(KEY_ID_PREFIX);
        crate::key::push_random_base62(&mut id, KEY_ID_LEN)?;
        Ok(KeyId(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ProjectId {
    pub const SHAPE: &'static str = "A project id matches [a-z0-9][a-z0-9_-]{0,63}.";

    pub fn parse(text: &str) -> Result<ProjectId, InvalidId> {
        if is_slug(text, PROJECT_ID_MAX_LEN, First::Alphanumeric) {
            Ok(ProjectId(text.to_owned()))
        } else {
            Err(InvalidId(ProjectId::SHAPE))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl OwnerId {
    pub const SHAPE: &'static str = "An owner id is 1 to 128 letters, digits and . _ : -";

    pub fn parse(text: &str) -> Result<OwnerId, InvalidId> {
        let well_formed = (1..=OWNER_ID_MAX_LEN).contains(&text.len())
            && text.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._:-".contains(&byte));
        if well_formed {
            Ok(OwnerId(text.to_owned()))
        } else {
            Err(InvalidId(OwnerId::SHAPE))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of the Durable Object holding this owner's state in `project`
    /// (a project id has no `:`, so the name says which is which).
    pub fn object_name(&self, project: &ProjectId) -> String {
        format!("{project}:{self}")
    }
}

macro_rules! string_conversions {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(text: String) -> Result<$name, InvalidId> {
                $name::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        // Read as the text it is; only construction is guarded.
        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

string_conversions!(KeyId);
string_conversions!(ProjectId);
string_conversions!(OwnerId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_ids_parse_and_near_misses_do_not() {
        let id = KeyId::generate().unwrap();
        assert_eq!(KeyId::parse(id.as_str()), Ok(id.clone()));
        for bad in [
            "key_short".to_owned(),
            id.as_str().replace("key_", "kez_"),
            format!("{}-", &id.as_str()[..id.as_str().len() - 1]),
            format!("{id}a"),
        ] {
            assert_eq!(KeyId::parse(&bad), Err(InvalidId(KeyId::SHAPE)), "{bad}");
        }
    }

    #[test]
    fn project_ids_are_lower_case_slugs() {
        for good in ["acme", "0", "a-b_c", &"a".repeat(64)] {
            assert!(ProjectId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Acme", "-acme", "_a", "a b", "a/b", &"a".repeat(65)] {
            assert!(ProjectId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn owner_ids_are_what_customers_are_called() {
        for good in ["acct_123", "org:42", "a.b-c_d", "A", &"x".repeat(128)] {
            assert!(OwnerId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a/b", "é", "a\n", &"x".repeat(129)] {
            assert_eq!(OwnerId::parse(bad), Err(InvalidId(OwnerId::SHAPE)), "{bad}");
        }
        let owner = OwnerId::parse("org:42").unwrap();
        assert_eq!(owner.object_name(&ProjectId::parse("acme").unwrap()), "acme:org:42");
    }

    #[test]
    fn serde_refuses_what_parse_refuses() {
        assert!(serde_json::from_str::<ProjectId>("\"Acme\"").is_err());
        assert!(serde_json::from_str::<KeyId>("\"key_x\"").is_err());
        let project: ProjectId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(serde_json::to_string(&project).unwrap(), "\"acme\"");
    }
}
