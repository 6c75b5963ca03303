//! Request paths that no server behind keygate can read differently from keygate.
//!
//! Guarantee: [`canonical`] either refuses a path with a reason, or returns the
//! one string that keygate matches against its routes and forwards to the
//! origin: percent-encoded unreserved characters decoded, every other
//! percent-encoding with upper-case hex. A path it accepts has no segment that
//! Tomcat, Jetty, nginx, IIS or a framework could split, merge, decode or
//! resolve into another path: no `;` (path parameters), no `\`, no encoded
//! `/`, `\`, `%` or `;`, no control or non-ASCII byte (raw or encoded), no dot
//! segment in any spelling, no empty segment but a trailing one.

use std::borrow::Cow;
use std::fmt;

/// The longest path keygate accepts.
pub const MAX_PATH_BYTES: usize = 2048;

/// Why a path was refused; the message never repeats the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    NotAbsolute,
    TooLong,
    /// A byte outside printable ASCII, raw or percent-encoded.
    ForbiddenByte,
    /// `;` or `\`, raw or encoded, or an encoded `/` or `%`.
    AmbiguousCharacter,
    BadPercentEncoding,
    DotSegment,
    EmptySegment,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the path must start with /",
            PathError::TooLong => "the path is longer than 2048 bytes",
            PathError::ForbiddenByte => "the path has a control or non-ASCII character (raw or percent-encoded)",
            PathError::AmbiguousCharacter => {
                "the path has `;` or `\\`, or an encoded `/`, `\\`, `;` or `%`, which servers read differently"
            }
            PathError::BadPercentEncoding => "the path has a `%` not followed by two hex digits",
            PathError::DotSegment => "the path has a `.` or `..` segment (in some spelling)",
            PathError::EmptySegment => "the path has an empty segment (`//`)",
        })
    }
}

/// Whether RFC 3986 calls `byte` unreserved: encoded or not, it means the same.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Refuses what some server would read as another byte than keygate does. A
/// space is fine encoded (`%20`) but never raw, where it would end the target.
fn check_byte(byte: u8, encoded: bool) -> Result<(), PathError> {
    match byte {
        0x00..=0x1f | 0x7f..=0xff => Err(PathError::ForbiddenByte),
        b' ' if !encoded => Err(PathError::ForbiddenByte),
        b';' | b'\\' => Err(PathError::AmbiguousCharacter),
        _ => Ok(()),
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|value| value as u8)
}

/// The canonical form of `raw` (a path as sent, without query), or why it is refused.
///
/// ```
/// use keygate::path::{canonical, PathError};
/// assert_eq!(canonical("/v1/projects/acme/bots").unwrap(), "/v1/projects/acme/bots");
/// assert_eq!(canonical("/v1/projects/acme/b%6Fts%3a1").unwrap(), "/v1/projects/acme/bots%3A1");
/// assert_eq!(canonical("/v1/projects/acme/bots/..;/x"), Err(PathError::AmbiguousCharacter));
/// assert_eq!(canonical("/v1/projects/acme/%2e%2E/x"), Err(PathError::DotSegment));
/// ```
pub fn canonical(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if raw.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let bytes = raw.as_bytes();
    let mut decoded: Option<String> = None;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte != b'%' {
            check_byte(byte, false)?;
            if let Some(out) = decoded.as_mut() {
                out.push(byte as char);
            }
            index += 1;
            continue;
        }
        let (high, low) = match (bytes.get(index + 1).copied().and_then(hex_value), bytes.get(index + 2)) {
            (Some(high), Some(&low)) => (high, hex_value(low).ok_or(PathError::BadPercentEncoding)?),
            _ => return Err(PathError::BadPercentEncoding),
        };
        let value = high << 4 | low;
        check_byte(value, true)?;
        if matches!(value, b'/' | b'%') {
            return Err(PathError::AmbiguousCharacter);
        }
        let out = decoded.get_or_insert_with(|| raw[..index].to_owned());
        if is_unreserved(value) {
            out.push(value as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(high)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(low)]));
        }
        index += 3;
    }
    let path = match decoded {
        Some(text) => Cow::Owned(text),
        None => Cow::Borrowed(raw),
    };
    let mut segments = path[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        if segment == "." || segment == ".." {
            return Err(PathError::DotSegment);
        }
        // A single trailing slash is an empty last segment, which is harmless.
        if segment.is_empty() && segments.peek().is_some() {
            return Err(PathError::EmptySegment);
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_paths_pass_unchanged_and_unallocated() {
        for path in ["/", "/v1/projects/acme/bots", "/v1/projects/acme/bots/", "/a-b_c~d.e/x:y@z!$&'()*+,="] {
            assert!(matches!(canonical(path), Ok(Cow::Borrowed(p)) if p == path), "{path}");
        }
    }

    #[test]
    fn unreserved_encodings_are_decoded_and_others_upper_cased() {
        let cases = [
            ("/v1/projects/%61cme/bots", "/v1/projects/acme/bots"),
            ("/a%2Db%5fc%7E", "/a-b_c~"),
            ("/a%20b", "/a%20b"),
            ("/a%3ab%40", "/a%3Ab%40"),
            ("/file%2Etxt", "/file.txt"),
        ];
        for (raw, expected) in cases {
            assert_eq!(canonical(raw).unwrap(), expected, "{raw}");
        }
    }

    /// The requests of the security review, and variants: each would let a
    /// `bots:read` key reach another resource behind Tomcat, Jetty, nginx or IIS.
    #[test]
    fn paths_an_origin_could_read_differently_are_refused() {
        let cases = [
            ("/v1/projects/acme/bots/..;/..;/victim/billing", PathError::AmbiguousCharacter),
            ("/v1/projects/acme/bots;jsessionid=1/x", PathError::AmbiguousCharacter),
            ("/v1/projects/acme/bots%3B/x", PathError::AmbiguousCharacter),
            ("/v1/projects/acme/bots/..%2F..%2Fvictim", PathError::AmbiguousCharacter),
            ("/v1/projects/acme/bots/..%2f..%2fvictim", PathError::AmbiguousCharacter),
            ("/v1/projects/acme/bots/..%5C..%5Cvictim", PathError::AmbiguousCharacter),
            ("/v1/projects/acme/bots/..\\..\\victim", PathError::AmbiguousCharacter),
            ("/v1/projects/acme/bots/%252e%252e/victim", PathError::AmbiguousCharacter),
            ("/v1/projects/acme/bots/%25", PathError::AmbiguousCharacter),
            ("/v1/projects/acme/bots/../../victim", PathError::DotSegment),
            ("/v1/projects/acme/bots/./x", PathError::DotSegment),
            ("/v1/projects/acme/bots/%2e%2e/x", PathError::DotSegment),
            ("/v1/projects/acme/bots/.%2E/x", PathError::DotSegment),
            ("/v1/projects/acme/bots/%2E.", PathError::DotSegment),
            ("/v1/projects/acme/bots/%2e", PathError::DotSegment),
            ("/v1/projects/acme/bots/..", PathError::DotSegment),
            ("/v1/projects/acme/bots/%00", PathError::ForbiddenByte),
            ("/v1/projects/acme/bots/%0a", PathError::ForbiddenByte),
            ("/v1/projects/acme/bots/%7f", PathError::ForbiddenByte),
            ("/v1/projects/acme/bots/%c0%ae%c0%ae", PathError::ForbiddenByte),
            ("/v1/projects/acme/bots/\u{e9}", PathError::ForbiddenByte),
            ("/v1/projects/acme/bots/a b", PathError::ForbiddenByte),
            ("/v1/projects/acme/bots/\t", PathError::ForbiddenByte),
            ("/v1/projects/acme/bots/%", PathError::BadPercentEncoding),
            ("/v1/projects/acme/bots/%2", PathError::BadPercentEncoding),
            ("/v1/projects/acme/bots/%zz", PathError::BadPercentEncoding),
            ("/v1/projects/acme/bots/%+1", PathError::BadPercentEncoding),
            ("/v1//projects/acme/bots", PathError::EmptySegment),
            ("//evil.example/x", PathError::EmptySegment),
            ("v1/projects/acme/bots", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
        ];
        for (raw, expected) in cases {
            assert_eq!(canonical(raw), Err(expected), "{raw}");
        }
        assert_eq!(canonical(&format!("/{}", "a".repeat(MAX_PATH_BYTES))), Err(PathError::TooLong));
    }

    proptest! {
        /// Whatever comes in, what comes out is already canonical, has no
        /// ambiguous byte, and reads the same after one more decoding pass.
        #[test]
        fn canonical_paths_are_fixed_points(raw in "/[a-zA-Z0-9%./;\\\\_~-]{0,40}") {
            if let Ok(path) = canonical(&raw) {
                prop_assert_eq!(canonical(&path).unwrap(), path.clone());
                prop_assert!(!path.contains(';') && !path.contains('\\') && !path.contains("//"));
                prop_assert!(path.split('/').all(|s| s != "." && s != ".."));
            }
        }
    }
}
