use super::verify::{verify, Refusal};
use super::*;

/// RFC 8032 section 7.1, TEST 1 (the empty message) and TEST 3 (two bytes).
const TEST_1: (&str, &str, &str, &str) = (
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "",
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
);
const TEST_3: (&str, &str, &str, &str) = (
    "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    "af82",
    "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
);

fn b64(hex_text: &str) -> String {
    URL_SAFE_NO_PAD.encode(hex::decode(hex_text).unwrap())
}

/// The JWK of an RFC 8032 vector's key, as a deployment would configure it.
fn jwk(vector: (&str, &str, &str, &str), kid: &str) -> String {
    json!({"kty": "OKP", "crv": "Ed25519", "d": b64(vector.0), "x": b64(vector.1), "kid": kid}).to_string()
}

fn pair_of(set: &KeySet) -> &KeyPair {
    &set.keys[0].pair
}

#[test]
fn rfc_8032_vectors_derive_their_public_keys_and_signatures() {
    for vector in [TEST_1, TEST_3] {
        let set = KeySet::parse(&jwk(vector, "k")).unwrap();
        let pair = pair_of(&set);
        assert_eq!(hex::encode(*pair.pk), vector.1, "x derived from d");
        let signature = pair.sk.sign(hex::decode(vector.2).unwrap(), None);
        assert_eq!(hex::encode(*signature), vector.3);
    }
}

#[test]
fn rfc_8037_jws_example_is_reproduced() {
    // RFC 8037 appendix A.4: RFC 8032's TEST 1 key signing "Example of Ed25519 signing".
    let set = KeySet::parse(&jwk(TEST_1, "k")).unwrap();
    assert_eq!(b64(TEST_1.0), "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A");
    assert_eq!(b64(TEST_1.1), "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    let token = compact("eyJhbGciOiJFZERTQSJ9", b"Example of Ed25519 signing", pair_of(&set));
    assert_eq!(
        token,
        "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.\
         hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    );
}

const NOW: UnixMillis = 1_767_225_600_123;

fn claims<'a>(record: &'a KeyRecord, jti: &str) -> Claims<'a> {
    Claims::new(
        "https://gw.example",
        "https://api.internal.example",
        record,
        "GET",
        "https://api.internal.example/v1/projects/acme/things",
        NOW,
        jti.to_owned(),
    )
}

#[test]
fn an_assertion_carries_its_header_and_claims_and_verifies() {
    let set = KeySet::parse(&jwk(TEST_1, "2026-01")).unwrap();
    let record = crate::keystate::tests::record(&["things:read", "bots:*"]);
    let token = set.sign(&claims(&record, "AAECAwQFBgcICQoLDA0ODw"));
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "EdDSA", "typ": "JWT", "kid": "2026-01"}));
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 64);
    let iat = NOW / 1000;
    let claims = verify(&token, set.jwks(), "https://gw.example", "https://api.internal.example", iat).unwrap();
    assert_eq!(
        claims,
        json!({
            "iss": "https://gw.example", "aud": "https://api.internal.example",
            "sub": "key_0000000000000000000001", "project": "acme", "scopes": ["things:read", "bots:*"],
            "iat": iat, "exp": iat + 60, "jti": "AAECAwQFBgcICQoLDA0ODw",
            "htm": "GET", "htu": "https://api.internal.example/v1/projects/acme/things",
        })
    );
    // Deterministic: the same claims, the same token (RFC 8032 signing).
    assert_eq!(set.sign(&self::claims(&record, "AAECAwQFBgcICQoLDA0ODw")), token);
}

#[test]
fn forged_tampered_expired_and_misaddressed_assertions_fail() {
    let set = KeySet::parse(&jwk(TEST_1, "a")).unwrap();
    let other = KeySet::parse(&jwk(TEST_3, "a")).unwrap();
    let record = crate::keystate::tests::record(&["things:read"]);
    let token = set.sign(&claims(&record, "j"));
    let (iss, aud, now) = ("https://gw.example", "https://api.internal.example", NOW / 1000);
    assert!(verify(&token, set.jwks(), iss, aud, now).is_ok());
    // Another key under the same kid.
    let forged = other.sign(&claims(&record, "j"));
    assert_eq!(verify(&forged, set.jwks(), iss, aud, now), Err(Refusal::Signature));
    // A payload changed after signing: the scopes widened.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    parts[1] = URL_SAFE_NO_PAD.encode(payload.replace("things:read", "admin"));
    assert_eq!(verify(&parts.join("."), set.jwks(), iss, aud, now), Err(Refusal::Signature));
    // `alg: none` with the signature dropped.
    let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"a"}"#), parts[1]);
    assert_eq!(verify(&none, set.jwks(), iss, aud, now), Err(Refusal::Algorithm));
    // Expired 60 s after issue, and never valid before it.
    assert!(verify(&token, set.jwks(), iss, aud, now + 59).is_ok());
    assert_eq!(verify(&token, set.jwks(), iss, aud, now + 60), Err(Refusal::Expired));
    assert_eq!(verify(&token, set.jwks(), iss, aud, now - 1), Err(Refusal::NotYetValid));
    assert_eq!(verify(&token, set.jwks(), "https://evil.example", aud, now), Err(Refusal::Issuer));
    assert_eq!(verify(&token, set.jwks(), iss, "https://other.example", now), Err(Refusal::Audience));
}

#[test]
fn the_first_key_signs_and_every_key_is_published() {
    let text = format!("[{},{}]", jwk(TEST_3, "new"), jwk(TEST_1, "old"));
    let set = KeySet::parse(&text).unwrap();
    assert_eq!(set.signing_kid(), "new");
    let jwks: Value = serde_json::from_str(set.jwks()).unwrap();
    assert_eq!(
        jwks,
        json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": b64(TEST_3.1), "kid": "new", "use": "sig", "alg": "EdDSA"},
            {"kty": "OKP", "crv": "Ed25519", "x": b64(TEST_1.1), "kid": "old", "use": "sig", "alg": "EdDSA"},
        ]})
    );
    assert!(!set.jwks().contains(&b64(TEST_1.0)) && !set.jwks().contains(&b64(TEST_3.0)), "no private key");
    let record = crate::keystate::tests::record(&[]);
    let token = set.sign(&claims(&record, "j"));
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["kid"], "new");
    // An assertion of the old key still verifies against the set while it is listed.
    let old = KeySet::parse(&jwk(TEST_1, "old")).unwrap().sign(&claims(&record, "j"));
    assert!(verify(&old, set.jwks(), "https://gw.example", "https://api.internal.example", NOW / 1000).is_ok());
}

#[test]
fn bad_key_sets_are_refused_without_quoting_a_private_key() {
    let d = b64(TEST_1.0);
    let x = b64(TEST_1.1);
    let x3 = b64(TEST_3.1);
    let padded = format!("{d}=");
    let standard = URL_SAFE_NO_PAD.encode([0xfbu8; 32]).replace('-', "+").replace('_', "/");
    let short = URL_SAFE_NO_PAD.encode([7u8; 31]);
    let zero = URL_SAFE_NO_PAD.encode([0u8; 32]);
    let cases: Vec<(String, &str)> = vec![
        ("".into(), "does not parse"),
        (format!("{{\"kty\":\"OKP\",\"d\":\"{d}\""), "does not parse"),
        ("[]".into(), "empty"),
        ("\"text\"".into(), "must be an Ed25519 JWK"),
        ("[1]".into(), "key 1: must be a JSON object"),
        (json!({"kty": "RSA", "crv": "Ed25519", "d": d, "x": x, "kid": "k"}).to_string(), "`kty` must be `OKP`"),
        (json!({"kty": "OKP", "crv": "X25519", "d": d, "x": x, "kid": "k"}).to_string(), "`crv` must be `Ed25519`"),
        (json!({"kty": "OKP", "crv": "Ed25519", "d": d, "x": x}).to_string(), "`kid` is required"),
        (json!({"kty": "OKP", "crv": "Ed25519", "d": d, "x": x, "kid": ""}).to_string(), "`kid` must be"),
        (json!({"kty": "OKP", "crv": "Ed25519", "d": d, "x": x, "kid": 7}).to_string(), "`kid` must be a string"),
        (json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k"}).to_string(), "`d` (the private key) is required"),
        (json!({"kty": "OKP", "crv": "Ed25519", "d": d, "kid": "k"}).to_string(), "`x` (the public key) is required"),
        (json!({"kty": "OKP", "crv": "Ed25519", "d": padded, "x": x, "kid": "k"}).to_string(), "`d` must be 32 bytes"),
        (json!({"kty": "OKP", "crv": "Ed25519", "d": standard, "x": x, "kid": "k"}).to_string(), "`d` must be 32"),
        (json!({"kty": "OKP", "crv": "Ed25519", "d": short, "x": x, "kid": "k"}).to_string(), "`d` must be 32"),
        (json!({"kty": "OKP", "crv": "Ed25519", "d": d, "x": short, "kid": "k"}).to_string(), "`x` must be 32"),
        (json!({"kty": "OKP", "crv": "Ed25519", "d": zero, "x": x, "kid": "k"}).to_string(), "not a usable"),
        (json!({"kty": "OKP", "crv": "Ed25519", "d": d, "x": x3, "kid": "k"}).to_string(), "`x` is not the public key"),
        (json!({"kty": "OKP", "crv": "Ed25519", "d": d, "x": x, "kid": "k", "use": "enc"}).to_string(), "`use`"),
        (json!({"kty": "OKP", "crv": "Ed25519", "d": d, "x": x, "kid": "k", "alg": "ES256"}).to_string(), "`alg`"),
        (json!({"kty": "OKP", "crv": "Ed25519", "d": d, "x": x, "kid": "k", "p": "q"}).to_string(), "unknown member"),
        (format!("[{},{}]", jwk(TEST_1, "same"), jwk(TEST_3, "same")), "key 2: the kid `same` is used twice"),
    ];
    for (text, expected) in cases {
        let problem = KeySet::parse(&text).expect_err(&text);
        assert!(problem.contains(expected), "{text}: {problem}");
        assert!(!problem.contains(&d) && !problem.contains(&d[..16]), "{problem} quotes d");
    }
    // Optional members that agree are fine, and the Debug form shows kids only.
    let set = KeySet::parse(
        &json!({"kty": "OKP", "crv": "Ed25519", "d": d, "x": x, "kid": "k", "use": "sig", "alg": "EdDSA"}).to_string(),
    )
    .unwrap();
    assert_eq!(format!("{set:?}"), r#"KeySet { kids: ["k"], .. }"#);
}

#[test]
fn each_jti_is_128_random_bits() {
    let first = new_jti().unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(&first).unwrap().len(), 16);
    assert_eq!(first.len(), 22);
    assert_ne!(first, new_jti().unwrap());
}

#[test]
fn the_runtime_gets_the_signing_key_as_rfc_8410_pkcs8() {
    // RFC 8410 section 10.3's private key, whose DER is this prefix and the 32-byte seed.
    let set = KeySet::parse(&format!("[{},{}]", jwk(TEST_3, "first"), jwk(TEST_1, "second"))).unwrap();
    assert_eq!(hex::encode(set.signing_pkcs8()), format!("302e020100300506032b657004220420{}", TEST_3.0));
}
