//! The key format: `<prefix>_<env>_<37 random base62><6 base62 CRC32 checksum>`,
//! the prefix one of the deployment's [`KeyPrefixes`] (`sk` by default).
//!
//! Guarantee: a raw [`ApiKey`] never leaves memory except through
//! [`ApiKey::digest`] (what storage sees) and [`ApiKey::expose`] (used once,
//! in the answer that creates the key). Its `Debug` is redacted.

mod base62;
mod prefixes;

pub(crate) use base62::push_random_base62;
pub use base62::BASE62;
pub use prefixes::{Environment, KeyPrefixes};

use std::fmt;

use sha2::{Digest, Sha256};

use base62::checksum_of;

const RANDOM_LEN: usize = 37;
const CHECKSUM_LEN: usize = 6;
const BODY_LEN: usize = RANDOM_LEN + CHECKSUM_LEN;
/// Secret characters shown after `<prefix>_<env>_` in the display prefix.
const PREFIX_SECRET_CHARS: usize = 4;

/// Why a presented string is not a key. Messages never repeat the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFormatError {
    Whitespace,
    /// Not one of `accepted` followed by `_live_` or `_test_`.
    WrongPrefix {
        accepted: KeyPrefixes,
    },
    WrongLength {
        expected: usize,
        actual: usize,
    },
    NotBase62 {
        position: usize,
    },
    BadChecksum,
}

impl fmt::Display for KeyFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFormatError::Whitespace => f.write_str("the key contains whitespace"),
            KeyFormatError::WrongPrefix { accepted } => {
                write!(f, "the key must start with {}", accepted.heads(&[Environment::Live, Environment::Test]))
            }
            KeyFormatError::WrongLength { expected, actual } => {
                write!(f, "the key must be {expected} characters long, not {actual}")
            }
            KeyFormatError::NotBase62 { position } => {
                write!(f, "the key has a character outside [0-9A-Za-z] at position {position}")
            }
            KeyFormatError::BadChecksum => f.write_str("the key's checksum does not match: it is mistyped or made up"),
        }
    }
}

/// A presented or freshly generated secret key, known to be well-formed.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    text: String,
    environment: Environment,
    /// Where the base62 body starts: the length of `<prefix>_<env>_`.
    body_start: usize,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…, [redacted])", self.display_prefix())
    }
}

impl ApiKey {
    /// Checks format and checksum without touching storage: `text` must
    /// start with one of `prefixes`.
    pub fn parse(text: &str, prefixes: &KeyPrefixes) -> Result<ApiKey, KeyFormatError> {
        if text.chars().any(char::is_whitespace) {
            return Err(KeyFormatError::Whitespace);
        }
        let wrong_prefix = || KeyFormatError::WrongPrefix { accepted: prefixes.clone() };
        let prefix = prefixes.prefix_of(text).ok_or_else(wrong_prefix)?;
        let after_prefix = &text[prefix.len() + 1..];
        let environment = [Environment::Live, Environment::Test]
            .into_iter()
            .find(|env| after_prefix.strip_prefix(env.as_str()).is_some_and(|rest| rest.starts_with('_')))
            .ok_or_else(wrong_prefix)?;
        let body_start = prefix.len() + 1 + environment.as_str().len() + 1;
        let expected = body_start + BODY_LEN;
        // Count chars, not bytes, so a multi-byte character reports a sane length.
        let actual = text.chars().count();
        if actual != expected {
            return Err(KeyFormatError::WrongLength { expected, actual });
        }
        let body = &text.as_bytes()[body_start..];
        if let Some(offset) = body.iter().position(|byte| !byte.is_ascii_alphanumeric()) {
            return Err(KeyFormatError::NotBase62 { position: body_start + offset });
        }
        let (signed, checksum) = text.split_at(text.len() - CHECKSUM_LEN);
        if checksum.as_bytes() != checksum_of(signed) {
            return Err(KeyFormatError::BadChecksum);
        }
        Ok(ApiKey { text: text.to_owned(), environment, body_start })
    }

    /// Whether `text` claims to be an API key (it starts with one of
    /// `prefixes` and `_`), so a bearer token that does not is read as the
    /// admin token instead.
    pub fn is_key_shaped(text: &str, prefixes: &KeyPrefixes) -> bool {
        prefixes.prefix_of(text).is_some()
    }

    /// A new key of `environment` from the CSPRNG, with the current prefix.
    pub fn generate(environment: Environment, prefixes: &KeyPrefixes) -> Result<ApiKey, getrandom::Error> {
        let prefix = prefixes.current();
        let body_start = prefix.len() + 1 + environment.as_str().len() + 1;
        let mut text = String::with_capacity(body_start + BODY_LEN);
        text.push_str(prefix);
        text.push('_');
        text.push_str(environment.as_str());
        text.push('_');
        push_random_base62(&mut text, RANDOM_LEN)?;
        let checksum = checksum_of(&text);
        text.push_str(std::str::from_utf8(&checksum).expect("base62 is ASCII"));
        Ok(ApiKey { text, environment, body_start })
    }

    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// SHA-256 of the whole key: the only form storage ever sees.
    pub fn digest(&self) -> KeyDigest {
        KeyDigest(Sha256::digest(self.text.as_bytes()).into())
    }

    /// `<prefix>_<env>_` plus the first four secret characters, safe to show and store.
    pub fn display_prefix(&self) -> String {
        self.text[..self.body_start + PREFIX_SECRET_CHARS].to_owned()
    }

    /// The plaintext, for the one answer that hands a new key to its owner.
    pub fn expose(&self) -> &str {
        &self.text
    }
}

/// SHA-256 of a key; its lowercase hex names the KV record `k:<hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest([u8; 32]);

impl KeyDigest {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn storage_key(&self) -> String {
        format!("k:{}", self.to_hex())
    }

    pub fn from_hex(text: &str) -> Option<KeyDigest> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(KeyDigest(bytes))
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyDigest({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests;
