//! What an origin does with an assertion, written the plain way: the tests'
//! verifier (the end-to-end tests use the `jose` npm library instead).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_compact::{PublicKey, Signature};
use serde_json::Value;

/// Why an assertion was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Algorithm,
    UnknownKey,
    Signature,
    Issuer,
    Audience,
    Expired,
    NotYetValid,
}

fn decode_json(part: &str) -> Result<Value, Refusal> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| Refusal::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Refusal::Malformed)
}

/// The claims of `token` when a key of `jwks` (the JWK Set document) signed
/// it with EdDSA, for `issuer` and `audience`, valid at `now` (unix seconds).
pub fn verify(token: &str, jwks: &str, issuer: &str, audience: &str, now: i64) -> Result<Value, Refusal> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed);
    };
    let head = decode_json(header)?;
    if head["alg"] != "EdDSA" {
        return Err(Refusal::Algorithm);
    }
    let set: Value = serde_json::from_str(jwks).map_err(|_| Refusal::Malformed)?;
    let key = set["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|key| key["kid"] == head["kid"] && key["crv"] == "Ed25519"))
        .ok_or(Refusal::UnknownKey)?;
    let x = URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap_or_default()).map_err(|_| Refusal::UnknownKey)?;
    let public = PublicKey::from_slice(&x).map_err(|_| Refusal::UnknownKey)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Refusal::Malformed)?;
    let signature = Signature::from_slice(&signature).map_err(|_| Refusal::Malformed)?;
    let signed = &token[..header.len() + 1 + payload.len()];
    public.verify(signed, &signature).map_err(|_| Refusal::Signature)?;
    let claims = decode_json(payload)?;
    if claims["iss"] != issuer {
        return Err(Refusal::Issuer);
    }
    if claims["aud"] != audience {
        return Err(Refusal::Audience);
    }
    if claims["exp"].as_i64().is_none_or(|exp| now >= exp) {
        return Err(Refusal::Expired);
    }
    if claims["iat"].as_i64().is_none_or(|iat| iat > now) {
        return Err(Refusal::NotYetValid);
    }
    Ok(claims)
}
