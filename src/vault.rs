//! The vault: the secret of a recoverable key, sealed so that only this
//! deployment's `VAULT_KEY` opens it again (opt-in; digests alone are the default).
//!
//! Guarantees: a secret is sealed with AES-256-GCM under the first vault key,
//! with a fresh random 96-bit nonce and the key's id as associated data, so a
//! sealed secret altered in any byte, or moved to another key, does not open.
//! The sealed form, `v1.<vault key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`,
//! names the vault key that sealed it by an id derived from that key (not its
//! place in the list), so after a rotation of `VAULT_KEY` the older keys (later
//! entries) still open what they sealed. No vault key, secret or sealed form
//! is ever in a `Debug` output or an error message.

use std::fmt;

use serde::{Deserialize, Serialize};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The sealed form's version.
const VERSION: &str = "v1";
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
/// What `VAULT_KEY` must hold, said without echoing what it holds.
const SHAPE: &str = "must be 32 random bytes in base64 (e.g. `openssl rand -base64 32`), or a JSON array of such keys (the first seals, all open)";

/// One vault key: its id and its cipher.
#[derive(Clone)]
struct VaultKey {
    id: String,
    cipher: Aes256Gcm,
}

/// The vault keys of `VAULT_KEY`: the first seals, every one opens what it sealed.
#[derive(Clone)]
pub struct Vault {
    keys: Vec<VaultKey>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Vault {{ keys: [redacted; {}] }}", self.keys.len())
    }
}

/// Why a sealed secret did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultError {
    /// No configured vault key has the id the sealed form names (it was sealed
    /// under a key `VAULT_KEY` no longer lists).
    KeyMissing,
    /// The key it names did not open it: altered, moved to another key, or
    /// a different key under a colliding id.
    DoesNotOpen,
}

/// A sealed secret, as a key's object keeps it and answers it to a reveal:
/// its `Debug` never shows it (ciphertext is kept out of logs too).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(pub String);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealed([redacted])")
    }
}

/// The id of a vault key: 8 hex characters of a hash of it (it says nothing of the key).
fn key_id(key: &[u8]) -> String {
    let hash = Sha256::new().chain_update(b"keygate vault key id\n").chain_update(key).finalize();
    hex::encode(&hash[..4])
}

/// The vault key id `sealed` names, if it is a sealed form at all.
pub fn sealed_by(sealed: &str) -> Option<&str> {
    let mut parts = sealed.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(VERSION), Some(id), Some(_)) => Some(id),
        _ => None,
    }
}

impl Vault {
    /// `VAULT_KEY`: one key (32 bytes, base64), or a JSON array of them.
    /// The error never repeats the value.
    pub fn parse(text: &str) -> Result<Vault, String> {
        let text = text.trim();
        let texts: Vec<String> = if text.starts_with('[') {
            serde_json::from_str(text).map_err(|_| SHAPE.to_owned())?
        } else {
            vec![text.to_owned()]
        };
        if texts.is_empty() {
            return Err(format!("the list of keys is empty; it {SHAPE}"));
        }
        let keys = texts
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let bytes = STANDARD.decode(text.trim()).ok().filter(|bytes| bytes.len() == 32);
                let bytes = bytes.ok_or_else(|| match texts.len() {
                    1 => SHAPE.to_owned(),
                    _ => format!("entry {index} is not 32 bytes of base64; VAULT_KEY {SHAPE}"),
                })?;
                let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| SHAPE.to_owned())?;
                Ok(VaultKey { id: key_id(&bytes), cipher })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Vault { keys })
    }

    /// The ids of the vault keys, the sealing key first.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(|key| key.id.clone()).collect()
    }

    /// Seals `secret` for the key `key_id` under the first vault key, with a fresh random nonce.
    pub fn seal(&self, key_id: &str, secret: &str) -> Result<Sealed, getrandom::Error> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce)?;
        Ok(Sealed(self.seal_with_nonce(key_id.as_bytes(), secret.as_bytes(), nonce)))
    }

    /// [`seal`](Self::seal) of any bytes with a given nonce (which must never repeat under one vault key).
    fn seal_with_nonce(&self, aad: &[u8], msg: &[u8], nonce: [u8; NONCE_BYTES]) -> String {
        let key = &self.keys[0];
        let payload = Payload { msg, aad };
        // Encryption fails only for inputs of gigabytes: a key's secret is a few dozen bytes.
        let sealed = key.cipher.encrypt(Nonce::from_slice(&nonce), payload).unwrap_or_default();
        let mut bytes = Vec::with_capacity(NONCE_BYTES + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        format!("{VERSION}.{}.{}", key.id, URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The secret `sealed` holds for the key `key_id`.
    pub fn open(&self, key_id: &str, sealed: &Sealed) -> Result<String, VaultError> {
        let sealed = sealed.0.as_str();
        let id = sealed_by(sealed).ok_or(VaultError::DoesNotOpen)?;
        let mut named = self.keys.iter().filter(|key| key.id == id).peekable();
        if named.peek().is_none() {
            return Err(VaultError::KeyMissing);
        }
        let body = sealed.rsplit('.').next().unwrap_or_default();
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| VaultError::DoesNotOpen)?;
        if bytes.len() < NONCE_BYTES + TAG_BYTES {
            return Err(VaultError::DoesNotOpen);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        // Ids are 32 bits: every key that bears this one is tried (a collision is rare, not impossible).
        let plain = named
            .find_map(|key| {
                let payload = Payload { msg: ciphertext, aad: key_id.as_bytes() };
                key.cipher.decrypt(Nonce::from_slice(nonce), payload).ok()
            })
            .ok_or(VaultError::DoesNotOpen)?;
        String::from_utf8(plain).map_err(|_| VaultError::DoesNotOpen)
    }
}

#[cfg(test)]
mod tests;
