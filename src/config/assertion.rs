//! `ASSERTION_SIGNING_KEY` and `ASSERTION_ISSUER`: the origin's signed
//! assertion (see [`crate::assertion`]).

use crate::assertion::KeySet;

/// The longest `ASSERTION_ISSUER`.
const MAX_ISSUER_LEN: usize = 256;

#[derive(Debug, Clone)]
pub struct AssertionConfig {
    /// The keys: the first signs, all are published.
    pub keys: KeySet,
    /// `iss`; `None`: the origin (scheme and host) of the request keygate received.
    pub issuer: Option<String>,
}

/// The assertion's configuration: `None` when `ASSERTION_SIGNING_KEY` is unset or empty.
pub fn parse_assertion(
    key: Option<String>,
    issuer: Option<String>,
) -> Result<Option<AssertionConfig>, (&'static str, String)> {
    let issuer = match issuer.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) if text.len() <= MAX_ISSUER_LEN && text.bytes().all(|b| b.is_ascii_graphic()) => {
            Some(text.to_owned())
        }
        Some(_) => {
            let problem = format!("must be 1 to {MAX_ISSUER_LEN} printable ASCII characters without spaces");
            return Err(("ASSERTION_ISSUER", problem));
        }
    };
    let Some(key) = key.filter(|key| !key.trim().is_empty()) else { return Ok(None) };
    let keys = KeySet::parse(&key).map_err(|problem| ("ASSERTION_SIGNING_KEY", problem))?;
    Ok(Some(AssertionConfig { keys, issuer }))
}
