//! The base62 alphabet of a key's body: its checksum, and random characters
//! drawn without bias.

use super::CHECKSUM_LEN;

/// Characters of a key body, in value order (`0` = 0 … `z` = 61).
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// CRC32 of `signed`, in base62, zero-padded to six characters.
pub(super) fn checksum_of(signed: &str) -> [u8; CHECKSUM_LEN] {
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
