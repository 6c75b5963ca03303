use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::json;

use super::*;

/// GitHub's documented sample request ("Secret scanning partner program",
/// "Implement signature verification in your secret alert service"), and
/// the public key its identifier names in GitHub's key document.
const GITHUB_BODY: &str =
    r#"[{"source":"commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}]"#;
const GITHUB_IDENTIFIER: &str = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";
const GITHUB_SIGNATURE: &str =
    "MEQCIQDaMKqrGnE27S0kgMrEK0eYBmyG0LeZismAEz/BgZyt7AIfXt9fErtRS4XaeSt/AO1RtBY66YcAdjxji410VQV4xg==";
const GITHUB_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYAGMWO8XgCamYKMJS6jc/qgvSlAd\nAjPuDPRcXU22YxgBrz+zoN19MzuRyW87qEt9/AmtoNP5GrobzUvQSyJFVw==\n-----END PUBLIC KEY-----\n";
/// RFC 8410 §10.1: an Ed25519 public key, well-formed SPKI but not P-256.
const ED25519_KEY: &str =
    "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";

const BODY: &[u8] = br#"[{"token":"sk_live_leaked","type":"keygate_api_key","url":"https://github.com/o/r/blob/1/a.txt","source":"content"}]"#;

/// A signing key from fixed scalar bytes: no RNG, the same key every run.
fn signing_key(byte: u8) -> SigningKey {
    SigningKey::from_slice(&[byte; 32]).unwrap()
}

fn pem(key: &SigningKey) -> String {
    key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()
}

/// A document of `(identifier, PEM, is_current)` entries.
fn document(entries: &[(&str, &str, bool)]) -> Vec<u8> {
    let keys: Vec<_> = entries
        .iter()
        .map(|(id, key, current)| json!({"key_identifier": id, "key": key, "is_current": current}))
        .collect();
    json!({ "public_keys": keys }).to_string().into_bytes()
}

fn der_base64(signature: &Signature) -> String {
    STANDARD.encode(signature.to_der().as_bytes())
}

fn sign(key: &SigningKey, body: &[u8]) -> String {
    der_base64(&key.sign(body))
}

/// Two current keys `a` (byte 1) and `b` (byte 2), a retired key `old` (byte 3).
fn keys() -> PublicKeys {
    let entries =
        [("a", pem(&signing_key(1)), true), ("b", pem(&signing_key(2)), true), ("old", pem(&signing_key(3)), false)];
    let entries: Vec<_> = entries.iter().map(|(id, pem, current)| (*id, pem.as_str(), *current)).collect();
    PublicKeys::parse(&document(&entries)).unwrap()
}

fn verify(identifier: &str, signature: &str, body: &[u8]) -> Result<(), SignatureError> {
    keys().verify(Some(identifier), Some(signature), body).map(|_| ())
}

#[test]
fn a_body_signed_by_a_current_key_verifies() {
    assert_eq!(verify("a", &sign(&signing_key(1), BODY), BODY), Ok(()));
    assert_eq!(verify("b", &sign(&signing_key(2), BODY), BODY), Ok(()));
}

#[test]
fn githubs_documented_example_verifies() {
    let keys = PublicKeys::parse(&document(&[(GITHUB_IDENTIFIER, GITHUB_KEY, true)])).unwrap();
    let body = GITHUB_BODY.as_bytes();
    let signed = keys.verify(Some(GITHUB_IDENTIFIER), Some(GITHUB_SIGNATURE), body).unwrap();
    let report = parse_report(signed).unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].token, "some_token");
    assert_eq!(report[0].source.as_deref(), Some("commit"));
    let reformatted = GITHUB_BODY.replace(',', ", ");
    let refused = keys.verify(Some(GITHUB_IDENTIFIER), Some(GITHUB_SIGNATURE), reformatted.as_bytes());
    assert_eq!(refused.unwrap_err(), SignatureError::Mismatch, "the raw bytes are signed, not the JSON value");
}

#[test]
fn a_tampered_body_is_refused() {
    let signature = sign(&signing_key(1), BODY);
    let mut tampered = BODY.to_vec();
    tampered[12] ^= 1;
    assert_eq!(verify("a", &signature, &tampered), Err(SignatureError::Mismatch));
    assert_eq!(verify("a", &signature, &BODY[..BODY.len() - 1]), Err(SignatureError::Mismatch));
    assert_eq!(verify("a", &signature, b""), Err(SignatureError::Mismatch));
}

#[test]
fn the_identifier_must_name_the_key_that_signed() {
    let signature = sign(&signing_key(1), BODY);
    assert_eq!(verify("b", &signature, BODY), Err(SignatureError::Mismatch));
    assert_eq!(verify("A", &signature, BODY), Err(SignatureError::UnknownKey));
}

#[test]
fn a_signature_from_a_key_not_in_the_document_is_refused() {
    assert_eq!(verify("a", &sign(&signing_key(9), BODY), BODY), Err(SignatureError::Mismatch));
}

#[test]
fn only_an_unknown_identifier_is_worth_a_fresh_document() {
    let unknown = verify("c", &sign(&signing_key(1), BODY), BODY).unwrap_err();
    assert_eq!(unknown, SignatureError::UnknownKey);
    assert!(unknown.is_unknown_key());
    for other in [SignatureError::RetiredKey, SignatureError::Mismatch, SignatureError::MalformedSignature] {
        assert!(!other.is_unknown_key(), "{other:?}");
    }
}

#[test]
fn a_key_the_document_no_longer_calls_current_is_refused() {
    let signature = sign(&signing_key(3), BODY);
    let refused = verify("old", &signature, BODY).unwrap_err();
    assert_eq!(refused, SignatureError::RetiredKey);
    assert!(!refused.is_unknown_key(), "a fresh document would not revive it");
}

#[test]
fn missing_headers_are_refused() {
    let signature = sign(&signing_key(1), BODY);
    assert_eq!(
        keys().verify(None, Some(&signature), BODY).unwrap_err(),
        SignatureError::MissingHeader(IDENTIFIER_HEADER)
    );
    assert_eq!(keys().verify(Some("a"), None, BODY).unwrap_err(), SignatureError::MissingHeader(SIGNATURE_HEADER));
}

#[test]
fn malformed_signatures_are_refused() {
    let signature: Signature = signing_key(1).sign(BODY);
    let der = signature.to_der().as_bytes().to_vec();
    let with_trailing_byte = STANDARD.encode([der.as_slice(), &[0]].concat());
    let truncated = STANDARD.encode(&der[..der.len() - 1]);
    let raw_r_and_s = STANDARD.encode(signature.to_bytes());
    let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&der);
    let url_safe = base64::engine::general_purpose::URL_SAFE.encode(&der);
    for (what, header) in [
        ("empty", String::new()),
        ("not base64", "not base64!".to_owned()),
        ("DER then a byte", with_trailing_byte),
        ("truncated DER", truncated),
        ("r || s, not DER", raw_r_and_s),
        ("DER of nothing", STANDARD.encode([0x30, 0x00])),
        ("zero r and s", STANDARD.encode([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00])),
    ] {
        assert_eq!(verify("a", &header, BODY), Err(SignatureError::MalformedSignature), "{what}");
    }
    // Other base64 alphabets or a missing padding are not GitHub's encoding.
    if unpadded != der_base64(&signature) {
        assert_eq!(verify("a", &unpadded, BODY), Err(SignatureError::MalformedSignature));
    }
    if url_safe != der_base64(&signature) {
        assert_eq!(verify("a", &url_safe, BODY), Err(SignatureError::MalformedSignature));
    }
}

/// ECDSA's `(r, s)` and `(r, n - s)` are both valid; GitHub does not
/// say it normalizes `s`, and this crate's verifier takes either.
#[test]
fn a_signature_with_a_high_s_verifies_like_its_low_s_twin() {
    let signature: Signature = signing_key(1).sign(BODY);
    let low = signature.normalize_s().unwrap_or(signature);
    let (r, s) = low.split_scalars();
    let high = Signature::from_scalars(r, -s).unwrap();
    assert!(high.normalize_s().is_some(), "the twin has a high s");
    assert_ne!(der_base64(&low), der_base64(&high));
    assert_eq!(verify("a", &der_base64(&low), BODY), Ok(()));
    assert_eq!(verify("a", &der_base64(&high), BODY), Ok(()));
    assert_eq!(verify("a", &der_base64(&high), b"other"), Err(SignatureError::Mismatch));
}

#[test]
fn the_key_document_has_the_documented_shape() {
    let pem_a = pem(&signing_key(1));
    let mut extra = serde_json::from_slice::<serde_json::Value>(&document(&[("a", &pem_a, true)])).unwrap();
    extra["public_keys"][0]["unused"] = json!(1);
    extra["etag"] = json!("x");
    assert!(PublicKeys::parse(extra.to_string().as_bytes()).is_ok(), "unknown fields are ignored");
    assert!(PublicKeys::parse(br#"{"public_keys":[]}"#).is_ok());
    let retired_garbage = document(&[("a", &pem_a, true), ("gone", "not a key", false)]);
    assert!(PublicKeys::parse(&retired_garbage).is_ok(), "a retired key is not parsed");
    let crlf = pem_a.replace('\n', "\r\n");
    assert!(PublicKeys::parse(&document(&[("a", &crlf, true)])).is_ok());
    let (begin, rest) = pem_a.split_once('\n').unwrap();
    let (base64, end) = rest.trim_end().rsplit_once('\n').unwrap();
    let one_line = format!("{begin}\n{}\n{end}", base64.replace('\n', ""));
    assert!(PublicKeys::parse(&document(&[("a", &one_line, true)])).is_ok(), "{one_line}");

    for (what, bad) in [
        ("not JSON", b"<html>".to_vec()),
        ("an array", b"[]".to_vec()),
        ("no public_keys", b"{}".to_vec()),
        ("is_current missing", br#"{"public_keys":[{"key_identifier":"a","key":"k"}]}"#.to_vec()),
        ("is_current a string", br#"{"public_keys":[{"key_identifier":"a","key":"k","is_current":"true"}]}"#.to_vec()),
        ("a current key that is no PEM", document(&[("a", "not a key", true)])),
        ("a current Ed25519 key", document(&[("a", ED25519_KEY, true)])),
        ("a current key cut short", document(&[("a", &pem_a[..pem_a.len() - 40], true)])),
        ("another PEM label", document(&[("a", &pem_a.replace("PUBLIC KEY", "EC PUBLIC KEY"), true)])),
        ("text after the block", document(&[("a", &format!("{pem_a}x"), true)])),
        ("bare base64", document(&[("a", base64, true)])),
    ] {
        assert!(matches!(PublicKeys::parse(&bad), Err(SignatureError::KeyDocument(_))), "{what}");
    }
}

fn report(body: &[u8]) -> Result<Vec<ReportedToken>, ReportError> {
    parse_report(SignedBody(body))
}

#[test]
fn a_report_is_an_array_of_matches_with_optional_url_and_source() {
    let body = json!([
        {"token": "t1", "type": "keygate_api_key", "url": "https://x", "source": "content"},
        {"token": "t2", "type": "keygate_api_key", "url": null, "source": null},
        {"token": "t3", "type": "keygate_api_key", "unknown": {"nested": [1, 2]}},
    ]);
    let tokens = report(body.to_string().as_bytes()).unwrap();
    assert_eq!(tokens.iter().map(|t| t.token.as_str()).collect::<Vec<_>>(), ["t1", "t2", "t3"]);
    assert_eq!(tokens[0].url.as_deref(), Some("https://x"));
    assert_eq!(tokens[0].source.as_deref(), Some("content"));
    assert_eq!((tokens[1].url.as_deref(), tokens[1].source.as_deref()), (None, None));
    assert_eq!((tokens[2].url.as_deref(), tokens[2].source.as_deref()), (None, None));
    assert_eq!(report(b"[]"), Ok(vec![]));
    assert_eq!(report(b" [] \n"), Ok(vec![]));
}

#[test]
fn a_malformed_report_says_where_but_never_quotes_a_token() {
    let secret = "sk_live_secret_value";
    for (body, at) in [
        (format!(r#"["{secret}"]"#), "[0]"),
        (format!(r#"{{"token":"{secret}"}}"#), "."),
        (format!(r#"[{{"token":"{secret}"}}]"#), "[0]"),
        (format!(r#"[{{"token":"{secret}","type":"t"}},{{"token":7,"type":"t"}}]"#), "[1].token"),
        (format!(r#"[{{"token":"{secret}","type":"t","url":5}}]"#), "[0].url"),
        (format!(r#"[{{"token":"{secret}","type":"t"}}] x"#), "the end"),
        (format!(r#"[{{"token":"{secret}","type":"t"}}"#), "."),
        ("".to_owned(), "."),
    ] {
        let error = report(body.as_bytes()).unwrap_err();
        assert_eq!(error, ReportError::Malformed { at: at.to_owned() }, "{body}");
        assert!(!error.to_string().contains(secret), "{error}");
    }
}

#[test]
fn reports_are_capped_in_bytes_tokens_and_token_length() {
    let item = |token: &str| json!({"token": token, "type": "t"});
    let many = |count: usize| serde_json::Value::from((0..count).map(|_| item("x")).collect::<Vec<_>>()).to_string();
    assert_eq!(report(many(MAX_REPORTED_TOKENS).as_bytes()).unwrap().len(), MAX_REPORTED_TOKENS);
    assert_eq!(report(many(MAX_REPORTED_TOKENS + 1).as_bytes()), Err(ReportError::TooManyTokens));

    let longest = "é".repeat(MAX_TOKEN_CHARS);
    assert!(report(json!([item(&longest)]).to_string().as_bytes()).is_ok(), "characters, not bytes");
    let too_long = json!([item("x"), item(&"a".repeat(MAX_TOKEN_CHARS + 1))]).to_string();
    assert_eq!(report(too_long.as_bytes()), Err(ReportError::TokenTooLong { index: 1 }));

    let padded = |len: usize| format!("[{}]", " ".repeat(len - 2));
    assert_eq!(report(padded(MAX_REPORT_BYTES).as_bytes()), Ok(vec![]));
    assert_eq!(report(padded(MAX_REPORT_BYTES + 1).as_bytes()), Err(ReportError::TooLarge));
}

#[test]
fn a_reported_token_never_shows_in_debug() {
    let tokens = report(BODY).unwrap();
    let shown = format!("{tokens:?}");
    assert!(!shown.contains("sk_live_leaked"), "{shown}");
    assert!(shown.contains("keygate_api_key"), "{shown}");
}

#[test]
fn feedback_names_the_token_by_its_sha256_only() {
    let reported = ReportedToken { token: "abc".into(), token_type: "keygate_api_key".into(), url: None, source: None };
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    let hash = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(
        serde_json::to_value(Feedback::new(&reported, Label::TruePositive)).unwrap(),
        json!({"token_hash": hash, "token_type": "keygate_api_key", "label": "true_positive"})
    );
    assert_eq!(
        serde_json::to_value(Feedback::new(&reported, Label::FalsePositive)).unwrap()["label"],
        "false_positive"
    );
    let leaked = &report(BODY).unwrap()[0];
    let answer = serde_json::to_string(&[Feedback::new(leaked, Label::TruePositive)]).unwrap();
    assert!(!answer.contains("sk_live_leaked"), "{answer}");
}
