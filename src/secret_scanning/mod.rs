//! GitHub's secret scanning partner program, pure: its public-key document,
//! the signature over a report, the report, and the feedback answered.
//!
//! Guarantees: a report's body can only be read through the [`SignedBody`]
//! that [`PublicKeys::verify`] returns once the ECDSA P-256 / SHA-256
//! signature over the raw bytes holds under a *current* key of GitHub's
//! document; every verification failure is one [`SignatureError`]; a
//! reported token is never printed by `Debug` nor sent back, only its
//! SHA-256 ([`Feedback`]).

mod report;
mod signature;

pub use report::{parse_report, Feedback, Label, ReportError, ReportedToken};
pub use signature::{PublicKeys, SignatureError, SignedBody};

/// The header naming the `key_identifier` of the key that signed the body.
pub const IDENTIFIER_HEADER: &str = "github-public-key-identifier";
/// The header carrying base64 of the ASN.1 DER ECDSA signature over the body.
pub const SIGNATURE_HEADER: &str = "github-public-key-signature";
/// GitHub's public-key document, the default of `SECRET_SCANNING_KEYS_URL`.
pub const GITHUB_KEYS_URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";
/// The largest report body read.
pub const MAX_REPORT_BYTES: usize = 1024 * 1024;
/// The most tokens one report may carry.
pub const MAX_REPORTED_TOKENS: usize = 1000;
/// The longest token, in characters.
pub const MAX_TOKEN_CHARS: usize = 1024;

#[cfg(test)]
mod tests;
