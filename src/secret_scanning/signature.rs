//! Whether a report is GitHub's: the public-key document, and the ECDSA
//! signature checked over a report's raw bytes.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

use super::{IDENTIFIER_HEADER, SIGNATURE_HEADER};

/// Why a report's signature is not accepted. The app answers every one of
/// them 401 `INVALID_SIGNATURE`; only [`SignatureError::UnknownKey`] is worth
/// fetching the document again for, once. Messages never hold a header's
/// value or the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// The public-key document is not the documented shape, or one of its
    /// current keys is not a P-256 public key in PEM.
    KeyDocument(String),
    /// A header is missing (its name).
    MissingHeader(&'static str),
    /// No key of the document has this identifier: a newer document may.
    UnknownKey,
    /// The identifier names a key the document no longer calls current.
    RetiredKey,
    /// The signature header is not base64 of an ASN.1 DER ECDSA signature.
    MalformedSignature,
    /// The signature does not hold for this body under the named key.
    Mismatch,
}

impl SignatureError {
    /// Whether fetching the public-key document again may help.
    pub fn is_unknown_key(&self) -> bool {
        *self == SignatureError::UnknownKey
    }
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureError::KeyDocument(problem) => write!(f, "the public-key document is unusable: {problem}"),
            SignatureError::MissingHeader(name) => write!(f, "the {name} header is missing"),
            SignatureError::UnknownKey => f.write_str("no public key has this identifier"),
            SignatureError::RetiredKey => f.write_str("the identified public key is no longer current"),
            SignatureError::MalformedSignature => f.write_str("the signature is not base64 of a DER ECDSA signature"),
            SignatureError::Mismatch => f.write_str("the signature does not match the body"),
        }
    }
}

/// GitHub's signing keys, from the document at `SECRET_SCANNING_KEYS_URL`.
///
/// Only keys the document marks `is_current: true` verify anything: a
/// signature by a key GitHub has retired is refused
/// ([`SignatureError::RetiredKey`]), so a retired key that leaked cannot sign
/// reports that revoke this deployment's keys. The cost is that a report
/// signed just before a rotation and delivered after it is refused; GitHub
/// delivers it again.
#[derive(Clone)]
pub struct PublicKeys {
    current: Vec<(String, VerifyingKey)>,
    retired: Vec<String>,
}

impl fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current: Vec<&str> = self.current.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("PublicKeys").field("current", &current).field("retired", &self.retired).finish()
    }
}

#[derive(Deserialize)]
struct KeyDocument {
    public_keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
struct KeyEntry {
    key_identifier: String,
    key: String,
    is_current: bool,
}

impl PublicKeys {
    /// `{"public_keys":[{"key_identifier","key" (PEM SPKI),"is_current"}]}`;
    /// other fields are ignored. A current key that is not a P-256 public
    /// key makes the whole document unusable; a retired one is not parsed.
    pub fn parse(document: &[u8]) -> Result<PublicKeys, SignatureError> {
        let document: KeyDocument = serde_json::from_slice(document).map_err(|error| {
            SignatureError::KeyDocument(format!(
                "not {{\"public_keys\": [{{key_identifier, key, is_current}}]}} ({error})"
            ))
        })?;
        let mut keys = PublicKeys { current: Vec::new(), retired: Vec::new() };
        for entry in document.public_keys {
            if !entry.is_current {
                keys.retired.push(entry.key_identifier);
                continue;
            }
            let key = public_key_of_pem(&entry.key).ok_or_else(|| {
                SignatureError::KeyDocument(format!("key `{}` is not a P-256 public key in PEM", entry.key_identifier))
            })?;
            keys.current.push((entry.key_identifier, key));
        }
        Ok(keys)
    }

    /// Checks `signature` (the [`SIGNATURE_HEADER`]) over the raw `body` with
    /// the current key named by `identifier` (the [`IDENTIFIER_HEADER`]).
    /// ECDSA signatures are accepted with a high or a low `s`: GitHub does not
    /// say that it normalizes them.
    pub fn verify<'b>(
        &self,
        identifier: Option<&str>,
        signature: Option<&str>,
        body: &'b [u8],
    ) -> Result<SignedBody<'b>, SignatureError> {
        let identifier = identifier.ok_or(SignatureError::MissingHeader(IDENTIFIER_HEADER))?;
        let signature = signature.ok_or(SignatureError::MissingHeader(SIGNATURE_HEADER))?;
        // Decoded first: a malformed signature is refused before its
        // identifier can ask for the document to be fetched again.
        let der = STANDARD.decode(signature).map_err(|_| SignatureError::MalformedSignature)?;
        let signature = Signature::from_der(&der).map_err(|_| SignatureError::MalformedSignature)?;
        let key = match self.current.iter().find(|(id, _)| id == identifier) {
            Some((_, key)) => key,
            None if self.retired.iter().any(|id| id == identifier) => return Err(SignatureError::RetiredKey),
            None => return Err(SignatureError::UnknownKey),
        };
        key.verify(body, &signature).map_err(|_| SignatureError::Mismatch)?;
        Ok(SignedBody(body))
    }
}

/// The key of a PEM `PUBLIC KEY` block (RFC 7468: base64 of a DER SPKI, in
/// lines of any length), if it is a P-256 key.
fn public_key_of_pem(pem: &str) -> Option<VerifyingKey> {
    let armored = pem.trim().strip_prefix("-----BEGIN PUBLIC KEY-----")?.strip_suffix("-----END PUBLIC KEY-----")?;
    let der = STANDARD.decode(armored.split_ascii_whitespace().collect::<String>()).ok()?;
    VerifyingKey::from_public_key_der(&der).ok()
}

/// A report body whose signature holds; only [`PublicKeys::verify`] makes one.
#[derive(Debug, Clone, Copy)]
pub struct SignedBody<'b>(pub(super) &'b [u8]);
