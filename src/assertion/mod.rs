//! The origin's signed assertion: an Ed25519 JWT (`alg` `EdDSA`, RFC 8037)
//! of what keygate let through, and the JWK Set that verifies it.
//!
//! Guarantees: a [`KeySet`] holds only keys that passed every check (OKP,
//! Ed25519, 32-byte `d` and `x` in unpadded base64url, `x` derived from `d`,
//! a unique `kid`); its problems never quote a private key, and neither does
//! its `Debug`. The first key signs; every key is in the JWK Set. Signatures
//! are RFC 8032's deterministic Ed25519.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_compact::{KeyPair, Seed};
use serde::Serialize;
use serde_json::{json, Value};

use crate::record::{KeyRecord, UnixMillis};

/// The request header that carries the assertion to the origin.
pub const HEADER: &str = "x-keygate-assertion";
/// How long an assertion is valid after it is issued, in seconds.
pub const LIFETIME_SECONDS: i64 = 60;
/// `Cache-Control` of the JWK Set: a verifier refetches it within five minutes.
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";
/// The longest `kid` accepted.
const MAX_KID_LEN: usize = 128;
/// The members a configured key may have.
const MEMBERS: &[&str] = &["kty", "crv", "d", "x", "kid", "use", "alg"];

/// One configured signing key.
#[derive(Clone)]
struct SigningKey {
    kid: String,
    pair: KeyPair,
    /// The JWT header naming this key, base64url-encoded once.
    header: String,
}

/// `ASSERTION_SIGNING_KEY`, parsed and checked: the first key signs.
#[derive(Clone)]
pub struct KeySet {
    keys: Vec<SigningKey>,
    /// The JWK Set document, serialized once.
    jwks: String,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|key| key.kid.as_str()).collect();
        f.debug_struct("KeySet").field("kids", &kids).finish_non_exhaustive()
    }
}

/// The JWT header of a key: members in this order.
#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// What an assertion says. `iat` and `exp` are unix seconds; `htm` and `htu`
/// bind it to one method and URL (without query), as DPoP (RFC 9449) does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claims<'a> {
    pub iss: &'a str,
    pub aud: &'a str,
    pub sub: &'a str,
    pub project: &'a str,
    pub scopes: &'a [String],
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub htm: &'a str,
    pub htu: &'a str,
    /// The customer whose keys share limits, when the key has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<&'a str>,
}

impl<'a> Claims<'a> {
    /// The claims for `record`'s request `method` `url`, issued at `now` with the id `jti`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        issuer: &'a str,
        audience: &'a str,
        record: &'a KeyRecord,
        method: &'a str,
        url: &'a str,
        now: UnixMillis,
        jti: String,
    ) -> Claims<'a> {
        let iat = now.div_euclid(1000);
        Claims {
            iss: issuer,
            aud: audience,
            sub: record.id.as_str(),
            project: record.project.as_str(),
            scopes: &record.scopes,
            iat,
            exp: iat + LIFETIME_SECONDS,
            jti,
            htm: method,
            htu: url,
            owner_id: record.owner_id.as_deref(),
        }
    }
}

/// A new `jti`: 128 random bits in base64url (22 characters).
pub fn new_jti() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The compact JWS of `payload` under `header` (already base64url), signed with `pair`.
#[cfg(test)]
fn compact(header: &str, payload: &[u8], pair: &KeyPair) -> String {
    let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 92);
    token.push_str(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let signature = pair.sk.sign(token.as_bytes(), None);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
    token
}

impl KeySet {
    /// A JWK (`{"kty":"OKP","crv":"Ed25519","d","x","kid"}`, optionally
    /// `"use":"sig"` and `"alg":"EdDSA"`) or a non-empty JSON array of them.
    pub fn parse(text: &str) -> Result<KeySet, String> {
        // Parsed as a value first: serde's typed errors would quote the input.
        let value: Value = serde_json::from_str(text.trim())
            .map_err(|_| "must be an Ed25519 JWK or a JSON array of them (the JSON does not parse)".to_owned())?;
        let entries = match value {
            Value::Array(entries) if entries.is_empty() => return Err("the list of keys is empty".into()),
            Value::Array(entries) => entries,
            object @ Value::Object(_) => vec![object],
            _ => return Err("must be an Ed25519 JWK or a JSON array of them".into()),
        };
        let mut keys: Vec<SigningKey> = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let key = signing_key(entry).map_err(|problem| format!("key {}: {problem}", index + 1))?;
            if keys.iter().any(|known| known.kid == key.kid) {
                return Err(format!("key {}: the kid `{}` is used twice", index + 1, key.kid));
            }
            keys.push(key);
        }
        let public: Vec<Value> = keys
            .iter()
            .map(|key| {
                json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(*key.pair.pk),
                       "kid": key.kid, "use": "sig", "alg": "EdDSA"})
            })
            .collect();
        let jwks = json!({ "keys": public }).to_string();
        Ok(KeySet { keys, jwks })
    }

    /// The JWK Set: every key's public half, in the configured order.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// The `kid` of the key that signs.
    pub fn signing_kid(&self) -> &str {
        &self.keys[0].kid
    }

    /// What the first key signs for `claims`: the JWT's `header.payload`.
    pub fn signing_input(&self, claims: &Claims<'_>) -> String {
        let header = &self.keys[0].header;
        // Serializing plain strings and integers cannot fail.
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let mut input = String::with_capacity(header.len() + payload.len() * 4 / 3 + 92);
        input.push_str(header);
        input.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut input);
        input
    }

    /// The JWT: `input` ([`KeySet::signing_input`]) and its Ed25519 `signature`.
    pub fn token(mut input: String, signature: &[u8; 64]) -> String {
        input.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut input);
        input
    }

    /// The first key's Ed25519 signature of `input`, in Rust (RFC 8032,
    /// deterministic). The worker signs with the runtime's WebCrypto instead
    /// (see [`crate::app::origin::Origin::sign`]), which is faster in wasm.
    pub fn sign_input(&self, input: &str) -> [u8; 64] {
        *self.keys[0].pair.sk.sign(input, None)
    }

    /// The signed assertion of `claims`, by the first key, in Rust.
    pub fn sign(&self, claims: &Claims<'_>) -> String {
        let input = self.signing_input(claims);
        let signature = self.sign_input(&input);
        KeySet::token(input, &signature)
    }

    /// The first key's private key as PKCS #8 (RFC 8410), for the runtime's
    /// WebCrypto to import. Never logged, never shown.
    pub fn signing_pkcs8(&self) -> [u8; 48] {
        let mut der = [0u8; 48];
        der[..16].copy_from_slice(&PKCS8_ED25519_PREFIX);
        der[16..].copy_from_slice(&*self.keys[0].pair.sk.seed());
        der
    }
}

/// The DER of an RFC 8410 `OneAsymmetricKey` for Ed25519, up to the 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// One JWK of the configuration, checked.
fn signing_key(entry: &Value) -> Result<SigningKey, String> {
    let Value::Object(members) = entry else { return Err("must be a JSON object (a JWK)".into()) };
    if let Some(unknown) = members.keys().find(|name| !MEMBERS.contains(&name.as_str())) {
        return Err(format!("unknown member `{unknown}` (a JWK here has {})", MEMBERS.join(", ")));
    }
    let text = |name: &str| match members.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(_) => Err(format!("`{name}` must be a string")),
    };
    if text("kty")? != Some("OKP") {
        return Err("`kty` must be `OKP`".into());
    }
    if text("crv")? != Some("Ed25519") {
        return Err("`crv` must be `Ed25519`".into());
    }
    if text("use")?.is_some_and(|usage| usage != "sig") {
        return Err("`use` must be `sig` when present".into());
    }
    if text("alg")?.is_some_and(|alg| alg != "EdDSA") {
        return Err("`alg` must be `EdDSA` when present".into());
    }
    let kid = text("kid")?.ok_or("`kid` is required")?;
    if kid.is_empty() || kid.len() > MAX_KID_LEN || !kid.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("`kid` must be 1 to {MAX_KID_LEN} printable ASCII characters without spaces"));
    }
    let d = bytes32(text("d")?.ok_or("`d` (the private key) is required")?)
        .ok_or("`d` must be 32 bytes in unpadded base64url")?;
    let x = bytes32(text("x")?.ok_or("`x` (the public key) is required")?)
        .ok_or("`x` must be 32 bytes in unpadded base64url")?;
    let pair = KeyPair::try_from_seed(Seed::new(d)).map_err(|_| "`d` is not a usable Ed25519 private key")?;
    if *pair.pk != x {
        return Err("`x` is not the public key of `d`".into());
    }
    let header = serde_json::to_vec(&Header { alg: "EdDSA", typ: "JWT", kid }).unwrap_or_default();
    Ok(SigningKey { kid: kid.to_owned(), pair, header: URL_SAFE_NO_PAD.encode(header) })
}

/// Exactly 32 bytes in canonical unpadded base64url.
fn bytes32(text: &str) -> Option<[u8; 32]> {
    URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()
}

/// A verifier of assertions, for tests: the one an origin would write.
#[cfg(any(test, feature = "testing"))]
pub mod verify;

#[cfg(test)]
mod tests;
