//! Lower-case identifiers: project ids, scope parts, plan and webhook source names.
//!
//! Guarantee: the one definition of their character set, `[a-z0-9_-]`, and
//! of how long they may be.

/// Whether `byte` may appear in an identifier.
pub fn is_slug_byte(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-'
}

/// What an identifier's first byte may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum First {
    /// `[a-z]`
    Letter,
    /// `[a-z0-9]`
    Alphanumeric,
    /// any identifier byte
    Any,
}

/// Whether `text` is 1 to `max_len` identifier bytes, starting as `first` says.
///
/// ```
/// use keygate::slug::{is_slug, First};
/// assert!(is_slug("acme-1", 64, First::Alphanumeric));
/// assert!(!is_slug("1bots", 32, First::Letter));
/// assert!(!is_slug("Acme", 64, First::Any));
/// assert!(!is_slug("", 64, First::Any));
/// ```
pub fn is_slug(text: &str, max_len: usize, first: First) -> bool {
    let bytes = text.as_bytes();
    let first_ok = bytes.first().is_some_and(|&byte| match first {
        First::Letter => byte.is_ascii_lowercase(),
        First::Alphanumeric => byte.is_ascii_lowercase() || byte.is_ascii_digit(),
        First::Any => is_slug_byte(byte),
    });
    first_ok && bytes.len() <= max_len && bytes.iter().all(|&byte| is_slug_byte(byte))
}
