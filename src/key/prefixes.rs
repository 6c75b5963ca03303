//! The `<prefix>_<env>_` a key starts with: the deployment's accepted
//! prefixes and the two environments.

use super::BODY_LEN;

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
    pub(super) fn prefix_of<'t>(&self, text: &'t str) -> Option<&'t str> {
        let (prefix, _) = text.split_once('_')?;
        self.0.iter().any(|known| known == prefix).then_some(prefix)
    }
}

/// `[a-z][a-z0-9]{1,11}`.
pub(super) fn is_prefix(text: &str) -> bool {
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
