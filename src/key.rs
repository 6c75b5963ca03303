//! The key format: `<prefix>_<env>_<37 random base62><6 base62 CRC32 checksum>`,
//! the prefix one of the deployment's [`KeyPrefixes`] (`sk` by default).
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
/// Secret characters shown after `<prefix>_<env>_` in the display prefix.
const PREFIX_SECRET_CHARS: usize = 4;
/// The shortest and longest prefix: `[a-z][a-z0-9]{1,11}`.
const PREFIX_LEN: std::ops::RangeInclusive<usize> = 2..=12;

/// The prefixes of a deployment's keys (`KEY_PREFIX`): never empty, each
/// matching `[a-z][a-z0-9]{1,11}`, none twice. The first is used for new
/// keys; all are accepted, so keys issued before a change of prefix go on
/// working.
///
/// ```
/// use keygate::key::KeyPrefixes;
/// let prefixes = KeyPrefixes::parse("acme, sk").unwrap();
/// assert_eq!(prefixes.current(), "acme");
/// assert_eq!(prefixes.iter().collect::<Vec<_>>(), ["acme", "sk"]);
/// assert_eq!(KeyPrefixes::default().current(), "sk");
/// assert!(KeyPrefixes::parse("Acme").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrefixes(Vec<String>);

impl Default for KeyPrefixes {
    /// `sk`: keys look like `sk_live_…` and `sk_test_…`.
    fn default() -> KeyPrefixes {
        KeyPrefixes(vec!["sk".to_owned()])
    }
}

impl KeyPrefixes {
    /// A comma-separated list, spaces around each prefix ignored. The
    /// message names the first offending item (a prefix is not a secret).
    pub fn parse(text: &str) -> Result<KeyPrefixes, String> {
        let mut prefixes: Vec<String> = Vec::new();
        for item in text.split(',').map(str::trim) {
            if item.is_empty() {
                return Err("a comma-separated list of prefixes with no empty item, such as `acme,sk`".to_owned());
            }
            if !is_prefix(item) {
                return Err(format!("`{item}` is not a key prefix: one matches [a-z][a-z0-9]{{1,11}}"));
            }
            if prefixes.iter().any(|known| known == item) {
                return Err(format!("`{item}` is listed twice"));
            }
            prefixes.push(item.to_owned());
        }
        Ok(KeyPrefixes(prefixes))
    }

    /// The prefix of new keys.
    pub fn current(&self) -> &str {
        &self.0[0]
    }

    /// Every accepted prefix, the current one first.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The accepted beginnings of a key of `environments`, as readable
    /// alternatives: `sk_live_`, or `acme_live_ or sk_live_`.
    pub fn heads(&self, environments: &[Environment]) -> String {
        let heads: Vec<String> = self
            .iter()
            .flat_map(|prefix| environments.iter().map(move |env| format!("{prefix}_{}_", env.as_str())))
            .collect();
        match heads.split_last() {
            None => String::new(),
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        }
    }

    /// The regular expression a deployer registers with GitHub's secret
    /// scanning partner program: any key of any accepted prefix.
    ///
    /// ```
    /// use keygate::key::KeyPrefixes;
    /// assert_eq!(
    ///     KeyPrefixes::parse("sk,acme").unwrap().secret_scanning_pattern(),
    ///     r"\b(?:sk|acme)_(?:live|test)_[0-9A-Za-z]{43}\b",
    /// );
    /// ```
    pub fn secret_scanning_pattern(&self) -> String {
        // Prefixes are [a-z0-9] only: nothing to escape.
        format!(r"\b(?:{})_(?:live|test)_[0-9A-Za-z]{{{BODY_LEN}}}\b", self.0.join("|"))
    }

    /// The accepted prefix `text` starts with, followed by `_`.
    fn prefix_of<'t>(&self, text: &'t str) -> Option<&'t str> {
        let (prefix, _) = text.split_once('_')?;
        self.0.iter().any(|known| known == prefix).then_some(prefix)
    }
}

/// `[a-z][a-z0-9]{1,11}`.
fn is_prefix(text: &str) -> bool {
    let bytes = text.as_bytes();
    PREFIX_LEN.contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
}

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
}

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

    fn sk() -> KeyPrefixes {
        KeyPrefixes::default()
    }

    /// A fixed, valid key with `prefix` (its checksum computed by this module).
    fn key_with(prefix: &str) -> String {
        let signed = format!("{prefix}_live_{}", "a".repeat(RANDOM_LEN));
        let checksum = checksum_of(&signed);
        format!("{signed}{}", std::str::from_utf8(&checksum).unwrap())
    }

    fn sample_key() -> String {
        key_with("sk")
    }

    fn wrong_prefix(prefixes: &KeyPrefixes) -> Result<ApiKey, KeyFormatError> {
        Err(KeyFormatError::WrongPrefix { accepted: prefixes.clone() })
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let key = ApiKey::generate(Environment::Test, &sk()).unwrap();
        assert!(key.expose().starts_with("sk_test_"));
        assert_eq!(key.expose().len(), 8 + 43);
        assert_eq!(key.display_prefix().len(), 12);
        assert!(key.expose().starts_with(&key.display_prefix()));
        assert_ne!(key, ApiKey::generate(Environment::Test, &sk()).unwrap());
    }

    #[test]
    fn new_keys_take_the_first_prefix_and_every_prefix_is_accepted() {
        let prefixes = KeyPrefixes::parse("acme2, sk").unwrap();
        let key = ApiKey::generate(Environment::Live, &prefixes).unwrap();
        assert!(key.expose().starts_with("acme2_live_"), "{key:?}");
        assert_eq!(key.expose().len(), "acme2_live_".len() + 43);
        assert_eq!(key.display_prefix().len(), "acme2_live_".len() + 4);
        assert!(key.expose().starts_with(&key.display_prefix()));
        assert_eq!(ApiKey::parse(key.expose(), &prefixes).as_ref(), Ok(&key));
        let older = ApiKey::parse(&sample_key(), &prefixes).unwrap();
        assert_eq!(older.display_prefix(), "sk_live_aaaa");
        assert_eq!(older.digest(), ApiKey::parse(&sample_key(), &sk()).unwrap().digest());
        let longest = KeyPrefixes::parse("abcdefghij12").unwrap();
        let key = ApiKey::parse(&key_with("abcdefghij12"), &longest).unwrap();
        assert_eq!(key.display_prefix(), "abcdefghij12_live_aaaa");
    }

    #[test]
    fn a_key_of_a_prefix_not_configured_is_refused() {
        let acme = KeyPrefixes::parse("acme").unwrap();
        assert_eq!(ApiKey::parse(&sample_key(), &acme), wrong_prefix(&acme));
        assert!(!ApiKey::is_key_shaped(&sample_key(), &acme));
        let acme_key = ApiKey::generate(Environment::Live, &acme).unwrap();
        assert_eq!(ApiKey::parse(acme_key.expose(), &sk()), wrong_prefix(&sk()));
        // A prefix of a configured prefix, or one that extends it, is another prefix.
        assert_eq!(ApiKey::parse(&key_with("acm"), &acme), wrong_prefix(&acme));
        assert_eq!(ApiKey::parse(&key_with("acmee"), &acme), wrong_prefix(&acme));
    }

    #[test]
    fn key_shaped_means_an_accepted_prefix_and_an_underscore() {
        let prefixes = KeyPrefixes::parse("acme,sk").unwrap();
        for shaped in ["sk_", "sk_admin_token", "acme_x", "acme_live_short"] {
            assert!(ApiKey::is_key_shaped(shaped, &prefixes), "{shaped}");
        }
        for other in ["sk", "skx_live_", "acm_live_", "ACME_live_", "", "_sk_", "pk_live_", "a-secret-admin-token"] {
            assert!(!ApiKey::is_key_shaped(other, &prefixes), "{other}");
        }
    }

    #[test]
    fn prefix_lists_are_validated() {
        assert_eq!(KeyPrefixes::parse("sk"), Ok(KeyPrefixes::default()));
        assert_eq!(KeyPrefixes::parse(" acme , sk ").unwrap().iter().collect::<Vec<_>>(), ["acme", "sk"]);
        assert!(KeyPrefixes::parse("a1b2c3d4e5f6").is_ok());
        for bad in [
            "",
            " ",
            "Sk",
            "SK",
            "abcdefghijklm",
            "a",
            "1sk",
            "9",
            "sk,",
            ",sk",
            "sk,,acme",
            "s-k",
            "s_k",
            "sk,sk",
            "é",
        ] {
            assert!(KeyPrefixes::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            KeyPrefixes::parse("sk,Acme").unwrap_err(),
            "`Acme` is not a key prefix: one matches [a-z][a-z0-9]{1,11}"
        );
    }

    #[test]
    fn the_secret_scanning_pattern_names_every_prefix() {
        assert_eq!(sk().secret_scanning_pattern(), r"\b(?:sk)_(?:live|test)_[0-9A-Za-z]{43}\b");
        let prefixes = KeyPrefixes::parse("acme,sk").unwrap();
        assert_eq!(prefixes.secret_scanning_pattern(), r"\b(?:acme|sk)_(?:live|test)_[0-9A-Za-z]{43}\b");
    }

    #[test]
    fn the_wrong_prefix_message_names_the_accepted_beginnings_not_the_input() {
        let message = ApiKey::parse("pk_live_secretsecret", &sk()).unwrap_err().to_string();
        assert_eq!(message, "the key must start with sk_live_ or sk_test_");
        assert!(!message.contains("secret"), "{message}");
        let prefixes = KeyPrefixes::parse("acme,sk").unwrap();
        let message = ApiKey::parse("pk_live_secretsecret", &prefixes).unwrap_err().to_string();
        assert_eq!(message, "the key must start with acme_live_, acme_test_, sk_live_ or sk_test_");
        assert_eq!(prefixes.heads(&[Environment::Live]), "acme_live_ or sk_live_");
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
        let key = ApiKey::parse(&sample_key(), &sk()).unwrap();
        let expected = hex::encode(Sha256::digest(sample_key().as_bytes()));
        assert_eq!(key.digest().to_hex(), expected);
        assert_eq!(key.digest().storage_key(), format!("k:{expected}"));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = ApiKey::parse(&sample_key(), &sk()).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&sample_key()[12..]), "{shown}");
        assert!(shown.contains("sk_live_aaaa"));
    }

    #[test]
    fn rejections_say_precisely_why() {
        let good = sample_key();
        let parse = |text: &str| ApiKey::parse(text, &sk());
        assert_eq!(parse(&format!(" {good}")), Err(KeyFormatError::Whitespace));
        assert_eq!(parse(&format!("{good}\n")), Err(KeyFormatError::Whitespace));
        assert_eq!(parse(&good.replacen("sk_live_", "pk_live_", 1)), wrong_prefix(&sk()));
        assert_eq!(parse(&good.replacen("sk_live_", "sk_prod_", 1)), wrong_prefix(&sk()));
        assert_eq!(parse(&good.replacen("sk_live_", "sk_livex", 1)), wrong_prefix(&sk()));
        assert_eq!(parse("sk_live"), wrong_prefix(&sk()));
        assert_eq!(parse(""), wrong_prefix(&sk()));
        assert_eq!(parse(&good[..50]), Err(KeyFormatError::WrongLength { expected: 51, actual: 50 }));
        assert_eq!(parse(&format!("{good}a")), Err(KeyFormatError::WrongLength { expected: 51, actual: 52 }));
        let mut bad = good.clone();
        bad.replace_range(10..11, "-");
        assert_eq!(parse(&bad), Err(KeyFormatError::NotBase62 { position: 10 }));
        let mut accented = good[..50].to_owned();
        accented.push('é');
        assert_eq!(parse(&accented), Err(KeyFormatError::NotBase62 { position: 50 }));
        let mut mistyped = good.clone();
        mistyped.replace_range(20..21, "b");
        assert_eq!(parse(&mistyped), Err(KeyFormatError::BadChecksum));
    }

    #[test]
    fn a_test_key_is_not_a_live_key() {
        let test_key = ApiKey::generate(Environment::Test, &sk()).unwrap();
        let as_live = test_key.expose().replacen("sk_test_", "sk_live_", 1);
        assert_eq!(ApiKey::parse(&as_live, &sk()), Err(KeyFormatError::BadChecksum));
    }

    #[test]
    fn the_checksum_covers_the_prefix() {
        let prefixes = KeyPrefixes::parse("acme,acmf").unwrap();
        let key = ApiKey::generate(Environment::Live, &prefixes).unwrap();
        let renamed = key.expose().replacen("acme_", "acmf_", 1);
        assert_eq!(ApiKey::parse(&renamed, &prefixes), Err(KeyFormatError::BadChecksum));
    }

    fn arbitrary_environment() -> impl Strategy<Value = Environment> {
        prop_oneof![Just(Environment::Live), Just(Environment::Test)]
    }

    /// One to three distinct valid prefixes.
    fn arbitrary_prefixes() -> impl Strategy<Value = KeyPrefixes> {
        proptest::collection::btree_set("[a-z][a-z0-9]{1,11}", 1..=3)
            .prop_map(|set| KeyPrefixes::parse(&set.into_iter().collect::<Vec<_>>().join(",")).unwrap())
    }

    proptest! {
        #[test]
        fn every_generated_key_parses(env in arbitrary_environment(), prefixes in arbitrary_prefixes()) {
            let key = ApiKey::generate(env, &prefixes).unwrap();
            let head = format!("{}_", prefixes.current());
            prop_assert!(key.expose().starts_with(&head));
            let parsed = ApiKey::parse(key.expose(), &prefixes).unwrap();
            prop_assert_eq!(parsed.environment(), env);
            prop_assert_eq!(parsed.digest(), key.digest());
            prop_assert!(ApiKey::is_key_shaped(key.expose(), &prefixes));
        }

        #[test]
        fn any_single_character_change_is_rejected(
            env in arbitrary_environment(),
            prefixes in arbitrary_prefixes(),
            from_end in 1usize..=43,
            replacement in 0usize..62,
        ) {
            let key = ApiKey::generate(env, &prefixes).unwrap();
            let mut bytes = key.expose().as_bytes().to_vec();
            let position = bytes.len() - from_end;
            prop_assume!(bytes[position] != BASE62[replacement]);
            bytes[position] = BASE62[replacement];
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(ApiKey::parse(&changed, &prefixes), Err(KeyFormatError::BadChecksum));
        }

        #[test]
        fn arbitrary_strings_never_panic(text in ".{0,80}", prefixes in arbitrary_prefixes()) {
            let _ = ApiKey::parse(&text, &prefixes);
            let _ = ApiKey::is_key_shaped(&text, &prefixes);
        }

        #[test]
        fn arbitrary_prefix_lists_never_panic(text in ".{0,40}") {
            if let Ok(prefixes) = KeyPrefixes::parse(&text) {
                prop_assert!(prefixes.iter().all(is_prefix));
            }
        }
    }
}
