//! The credential a request presents: read in one place for verify, the
//! admin API and the gateway.
//!
//! Guarantees: a credential comes from `Authorization: Bearer <token>` or one
//! of `KEY_HEADERS`, and from nowhere else; two different values are
//! `AMBIGUOUS_CREDENTIALS`; a malformed `Authorization` is refused, never
//! skipped; the headers read here are exactly [`credential_headers`], which
//! the origin never receives.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::http::Request;
use crate::config::Config;
use crate::error::Error;

/// What a request presents, and whether it came as a bearer token (the only
/// way the admin token is accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential<'r> {
    pub value: &'r str,
    pub bearer: bool,
}

impl<'r> Credential<'r> {
    /// The one credential of `request`. Errors are denials: missing, two
    /// different values, or a malformed `Authorization`.
    pub fn of(request: &'r Request, config: &Config) -> Result<Credential<'r>, Error> {
        let mut found: Option<Credential<'r>> = None;
        let bearer = request.header_values("authorization").map(|v| bearer_token(v).map(|value| (value, true)));
        let headers = config.key_headers.iter().flat_map(|name| request.header_values(name)).map(|v| Ok((v, false)));
        for candidate in bearer.chain(headers) {
            let (value, bearer) = candidate?;
            match found {
                Some(previous) if previous.value != value => return Err(Error::AmbiguousCredentials),
                Some(previous) => found = Some(Credential { value, bearer: bearer || previous.bearer }),
                None => found = Some(Credential { value, bearer }),
            }
        }
        found.ok_or(Error::MissingApiKey)
    }
}

impl Credential<'_> {
    /// Whether this is `ADMIN_TOKEN` as a bearer token (compared in constant time).
    pub fn is_admin_token(&self, config: &Config) -> bool {
        let admin_token = config.admin_token.as_deref();
        self.bearer && admin_token.is_some_and(|admin_token| same_secret(self.value, admin_token))
    }
}

/// Compares secrets in constant time, hiding their lengths too.
fn same_secret(presented: &str, expected: &str) -> bool {
    Sha256::digest(presented.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes())).into()
}

/// Every header a credential may come in (lower-case): `authorization` and the `KEY_HEADERS`.
pub fn credential_headers(config: &Config) -> impl Iterator<Item = &str> + Clone {
    std::iter::once("authorization").chain(config.key_headers.iter().map(String::as_str))
}

/// The token of an `Authorization: Bearer <token>` value.
fn bearer_token(value: &str) -> Result<&str, Error> {
    let scheme_ok = value.len() > 7 && value.is_char_boundary(7) && value[..7].eq_ignore_ascii_case("bearer ");
    if !scheme_ok {
        return Err(Error::InvalidApiKey("The Authorization header must be `Bearer <key>`.".into()));
    }
    let token = &value[7..];
    if token.trim() != token {
        return Err(Error::InvalidApiKey("The bearer token has leading or trailing whitespace.".into()));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_value_only() {
        assert!(same_secret("0123456789abcdef", "0123456789abcdef"));
        assert!(!same_secret("0123456789abcdef", "0123456789abcdeF"));
        assert!(!same_secret("", "0123456789abcdef"));
    }

    fn config() -> Config {
        Config::from_vars(|name| (name == "KEY_HEADERS").then(|| "X-API-Key, X-TLM-Key".to_owned())).unwrap()
    }

    fn of(headers: &[(&str, &str)]) -> Result<(String, bool), &'static str> {
        let request = headers.iter().fold(Request::new("GET", "/"), |r, (name, value)| r.with_header(name, value));
        Credential::of(&request, &config()).map(|c| (c.value.to_owned(), c.bearer)).map_err(|e| e.code())
    }

    #[test]
    fn one_credential_from_bearer_or_a_key_header() {
        assert_eq!(of(&[("Authorization", "Bearer abc")]), Ok(("abc".into(), true)));
        assert_eq!(of(&[("authorization", "bearer abc")]), Ok(("abc".into(), true)));
        assert_eq!(of(&[("X-TLM-Key", "abc")]), Ok(("abc".into(), false)));
        assert_eq!(of(&[("X-API-Key", "abc"), ("Authorization", "Bearer abc")]), Ok(("abc".into(), true)));
        assert_eq!(of(&[("X-API-Key", "abc"), ("X-TLM-Key", "abd")]), Err("AMBIGUOUS_CREDENTIALS"));
        assert_eq!(of(&[("Authorization", "Bearer a"), ("Authorization", "Bearer b")]), Err("AMBIGUOUS_CREDENTIALS"));
        assert_eq!(of(&[]), Err("MISSING_API_KEY"));
        assert_eq!(of(&[("X-Other-Key", "abc")]), Err("MISSING_API_KEY"));
        for bad in ["Basic abc", "Bearer", "Bearer  abc", "Bearer abc ", "Bearerabc", "Bearé abc"] {
            assert_eq!(of(&[("Authorization", bad)]), Err("INVALID_API_KEY"), "{bad}");
        }
    }

    #[test]
    fn the_credential_headers_are_authorization_and_the_key_headers() {
        let config = config();
        let names: Vec<&str> = credential_headers(&config).collect();
        assert_eq!(names, ["authorization", "x-api-key", "x-tlm-key"]);
    }
}
