//! The key format: `sk_<env>_<37 random base62><6 base62 CRC32 checksum>`.
//!
//! Guarantee: a raw [`ApiKey`] never leaves memory except through
//! [`ApiKey::digest`] (what storage sees) and [`ApiKey::expose`] (used once,
//! in the answer that creates the key). Its `Debug` is redacted.

use std::fmt;

use sha2::{Digest, Sha256};

/// Characters of a key body, in value order (`0` = 0 … `z` = 61).
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const RANDOM_LEN: usize = 37;
const CHECKSUM_LEN: usize = 6;
const BODY_LEN: usize = RANDOM_LEN + CHECKSUM_LEN;
/// Secret characters shown after `sk_<env>_` in the display prefix.
const PREFIX_SECRET_CHARS: usize = 4;

/// Which key population a key or deployment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Live,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Test => "test",
        }
    }

    pub fn parse(text: &str) -> Option<Environment> {
        match text {
            "live" => Some(Environment::Live),
            "test" => Some(Environment::Test),
            _ => None,
        }
    }

    fn key_prefix(self) -> &'static str {
        match self {
            Environment::Live => "sk_live_",
            Environment::Test => "sk_test_",
        }
    }
}

/// Why a presented string is not a key. Messages never repeat the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFormatError {
    Whitespace,
    WrongPrefix,
    WrongLength { expected: usize, actual: usize },
    NotBase62 { position: usize },
    BadChecksum,
}

impl fmt::Display for KeyFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFormatError::Whitespace => f.write_str("the key contains whitespace"),
            KeyFormatError::WrongPrefix => f.write_str("the key must start with sk_live_ or sk_test_"),
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
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…, [redacted])", self.display_prefix())
    }
}

impl ApiKey {
    /// Checks format and checksum without touching storage.
    pub fn parse(text: &str) -> Result<ApiKey, KeyFormatError> {
        if text.chars().any(char::is_whitespace) {
            return Err(KeyFormatError::Whitespace);
        }
        let environment = [Environment::Live, Environment::Test]
            .into_iter()
            .find(|env| text.starts_with(env.key_prefix()))
            .ok_or(KeyFormatError::WrongPrefix)?;
        let prefix_len = environment.key_prefix().len();
        let expected = prefix_len + BODY_LEN;
        // Count chars, not bytes, so a multi-byte character reports a sane length.
        let actual = text.chars().count();
        if actual != expected {
            return Err(KeyFormatError::WrongLength { expected, actual });
        }
        let body = &text.as_bytes()[prefix_len..];
        if let Some(offset) = body.iter().position(|byte| !byte.is_ascii_alphanumeric()) {
            return Err(KeyFormatError::NotBase62 { position: prefix_len + offset });
        }
        let (signed, checksum) = text.split_at(text.len() - CHECKSUM_LEN);
        if checksum.as_bytes() != checksum_of(signed) {
            return Err(KeyFormatError::BadChecksum);
        }
        Ok(ApiKey { text: text.to_owned(), environment })
    }

    /// Whether `text` claims to be an API key (by its `sk_` prefix), so a
    /// bearer token that does not is read as the admin token instead.
    pub fn is_key_shaped(text: &str) -> bool {
        text.starts_with("sk_")
    }

    /// A new key from the CSPRNG.
    pub fn generate(environment: Environment) -> Result<ApiKey, getrandom::Error> {
        let mut text = String::with_capacity(environment.key_prefix().len() + BODY_LEN);
        text.push_str(environment.key_prefix());
        push_random_base62(&mut text, RANDOM_LEN)?;
        let checksum = checksum_of(&text);
        text.push_str(std::str::from_utf8(&checksum).expect("base62 is ASCII"));
        Ok(ApiKey { text, environment })
    }

    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// SHA-256 of the whole key: the only form storage ever sees.
    pub fn digest(&self) -> KeyDigest {
        KeyDigest(Sha256::digest(self.text.as_bytes()).into())
    }

    /// `sk_live_` plus the first four secret characters, safe to show and store.
    pub fn display_prefix(&self) -> String {
        let end = self.environment.key_prefix().len() + PREFIX_SECRET_CHARS;
        self.text[..end].to_owned()
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

/// CRC32 of `signed`, in base62, zero-padded to six characters.
fn checksum_of(signed: &str) -> [u8; CHECKSUM_LEN] {
    let mut value = crc32fast::hash(signed.as_bytes()) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// Appends `count` uniform base62 characters (rejection sampling: no modulo bias).
pub(crate) fn push_random_base62(out: &mut String, count: usize) -> Result<(), getrandom::Error> {
    let mut pushed = 0;
    let mut buffer = [0u8; 64];
    while pushed < count {
        getrandom::fill(&mut buffer)?;
        for &byte in &buffer {
            // 248 = 4 × 62: bytes at or above it would favour the first characters.
            if byte < 248 && pushed < count {
                out.push(BASE62[(byte % 62) as usize] as char);
                pushed += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A fixed, valid live key (its checksum computed by this module).
    fn sample_key() -> String {
        let signed = format!("sk_live_{}", "a".repeat(RANDOM_LEN));
        let checksum = checksum_of(&signed);
        format!("{signed}{}", std::str::from_utf8(&checksum).unwrap())
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = ApiKey::generate(Environment::Test).unwrap();
        assert!(key.expose().starts_with("sk_test_"));
        assert_eq!(key.expose().len(), 8 + 43);
        assert_eq!(key.display_prefix().len(), 12);
        assert!(key.expose().starts_with(&key.display_prefix()));
        assert_ne!(key, ApiKey::generate(Environment::Test).unwrap());
    }

    #[test]
    fn checksum_is_crc32_in_zero_padded_base62() {
        // crc32("") = 0 → all zeros; crc32("a") = 0xE8B7BE43 = 3904355907.
        assert_eq!(&checksum_of(""), b"000000");
        let mut expected = Vec::new();
        let mut n: u64 = 3_904_355_907;
        for _ in 0..6 {
            expected.push(BASE62[(n % 62) as usize]);
            n /= 62;
        }
        expected.reverse();
        assert_eq!(checksum_of("a").to_vec(), expected);
    }

    #[test]
    fn digest_is_sha256_of_the_whole_key() {
        let key = ApiKey::parse(&sample_key()).unwrap();
        let expected = hex::encode(Sha256::digest(sample_key().as_bytes()));
        assert_eq!(key.digest().to_hex(), expected);
        assert_eq!(key.digest().storage_key(), format!("k:{expected}"));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = ApiKey::parse(&sample_key()).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&sample_key()[12..]), "{shown}");
        assert!(shown.contains("sk_live_aaaa"));
    }

    #[test]
    fn rejections_say_precisely_why() {
        let good = sample_key();
        assert_eq!(ApiKey::parse(&format!(" {good}")), Err(KeyFormatError::Whitespace));
        assert_eq!(ApiKey::parse(&format!("{good}\n")), Err(KeyFormatError::Whitespace));
        assert_eq!(ApiKey::parse(&good.replacen("sk_live_", "pk_live_", 1)), Err(KeyFormatError::WrongPrefix));
        assert_eq!(ApiKey::parse(&good.replacen("sk_live_", "sk_prod_", 1)), Err(KeyFormatError::WrongPrefix));
        assert_eq!(ApiKey::parse(""), Err(KeyFormatError::WrongPrefix));
        assert_eq!(ApiKey::parse(&good[..50]), Err(KeyFormatError::WrongLength { expected: 51, actual: 50 }));
        assert_eq!(ApiKey::parse(&format!("{good}a")), Err(KeyFormatError::WrongLength { expected: 51, actual: 52 }));
        let mut bad = good.clone();
        bad.replace_range(10..11, "-");
        assert_eq!(ApiKey::parse(&bad), Err(KeyFormatError::NotBase62 { position: 10 }));
        let mut accented = good[..50].to_owned();
        accented.push('é');
        assert_eq!(ApiKey::parse(&accented), Err(KeyFormatError::NotBase62 { position: 50 }));
        let mut mistyped = good.clone();
        mistyped.replace_range(20..21, "b");
        assert_eq!(ApiKey::parse(&mistyped), Err(KeyFormatError::BadChecksum));
    }

    #[test]
    fn a_test_key_is_not_a_live_key() {
        let test_key = ApiKey::generate(Environment::Test).unwrap();
        let as_live = test_key.expose().replacen("sk_test_", "sk_live_", 1);
        assert_eq!(ApiKey::parse(&as_live), Err(KeyFormatError::BadChecksum));
    }

    fn arbitrary_environment() -> impl Strategy<Value = Environment> {
        prop_oneof![Just(Environment::Live), Just(Environment::Test)]
    }

    proptest! {
        #[test]
        fn every_generated_key_parses(env in arbitrary_environment()) {
            let key = ApiKey::generate(env).unwrap();
            let parsed = ApiKey::parse(key.expose()).unwrap();
            prop_assert_eq!(parsed.environment(), env);
            prop_assert_eq!(parsed.digest(), key.digest());
        }

        #[test]
        fn any_single_character_change_is_rejected(
            env in arbitrary_environment(),
            position in 8usize..51,
            replacement in 0usize..62,
        ) {
            let key = ApiKey::generate(env).unwrap();
            let mut bytes = key.expose().as_bytes().to_vec();
            prop_assume!(bytes[position] != BASE62[replacement]);
            bytes[position] = BASE62[replacement];
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(ApiKey::parse(&changed), Err(KeyFormatError::BadChecksum));
        }

        #[test]
        fn arbitrary_strings_never_panic(text in ".{0,80}") {
            let _ = ApiKey::parse(&text);
        }
    }
}
