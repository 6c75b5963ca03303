//! What a signed report holds (the reported tokens, capped) and the
//! feedback answered for each: its SHA-256, never the token.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{SignedBody, MAX_REPORTED_TOKENS, MAX_REPORT_BYTES, MAX_TOKEN_CHARS};

/// One match of a report: a string that looked like one of this
/// deployment's keys somewhere public. Its `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct ReportedToken {
    pub token: String,
    /// The secret type the deployer registered with GitHub.
    #[serde(rename = "type")]
    pub token_type: String,
    /// Where it was found; absent, `null` or empty when GitHub has none.
    #[serde(default)]
    pub url: Option<String>,
    /// What it was found in (`content`, `commit`, `npm`, …).
    #[serde(default)]
    pub source: Option<String>,
}

impl fmt::Debug for ReportedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportedToken")
            .field("token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("url", &self.url)
            .field("source", &self.source)
            .finish()
    }
}

/// Why a signed body is not a report. `TooLarge` is 413, the others 400
/// `VALIDATION_ERROR`; no message holds a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportError {
    /// More than [`MAX_REPORT_BYTES`].
    TooLarge,
    /// More than [`MAX_REPORTED_TOKENS`] matches.
    TooManyTokens,
    /// The token at this index has more than [`MAX_TOKEN_CHARS`] characters.
    TokenTooLong { index: usize },
    /// Not a JSON array of `{token, type, url, source}`; `at` is where
    /// (`[3].token`), naming only indices and field names.
    Malformed { at: String },
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::TooLarge => write!(f, "the report is larger than {MAX_REPORT_BYTES} bytes"),
            ReportError::TooManyTokens => write!(f, "the report holds more than {MAX_REPORTED_TOKENS} tokens"),
            ReportError::TokenTooLong { index } => {
                write!(f, "token [{index}] is longer than {MAX_TOKEN_CHARS} characters")
            }
            ReportError::Malformed { at } => {
                write!(f, "the report is not a JSON array of {{token, type, url, source}} (at {at})")
            }
        }
    }
}

/// The matches of a signed report; unknown fields are ignored.
pub fn parse_report(body: SignedBody<'_>) -> Result<Vec<ReportedToken>, ReportError> {
    let SignedBody(body) = body;
    if body.len() > MAX_REPORT_BYTES {
        return Err(ReportError::TooLarge);
    }
    // serde's own messages may quote a value, a token among them: keep only the path.
    let malformed = |at: String| ReportError::Malformed { at: at.chars().take(80).collect() };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let tokens: Vec<ReportedToken> =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| malformed(error.path().to_string()))?;
    deserializer.end().map_err(|_| malformed("the end".to_owned()))?;
    if tokens.len() > MAX_REPORTED_TOKENS {
        return Err(ReportError::TooManyTokens);
    }
    if let Some(index) = tokens.iter().position(|reported| reported.token.chars().count() > MAX_TOKEN_CHARS) {
        return Err(ReportError::TokenTooLong { index });
    }
    Ok(tokens)
}

/// GitHub's verdict vocabulary for a reported token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// The token is (or was) a key of this deployment.
    TruePositive,
    /// It only looks like one.
    FalsePositive,
}

/// One item of the answer to GitHub: the token's SHA-256, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feedback {
    /// Lowercase hex SHA-256 of the token's UTF-8 bytes.
    pub token_hash: String,
    pub token_type: String,
    pub label: Label,
}

impl Feedback {
    pub fn new(reported: &ReportedToken, label: Label) -> Feedback {
        Feedback {
            token_hash: hex::encode(Sha256::digest(reported.token.as_bytes())),
            token_type: reported.token_type.clone(),
            label,
        }
    }
}
