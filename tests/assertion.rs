//! The origin's signed assertion through the app: what the origin receives,
//! the JWK Set that verifies it, and what never carries one.

mod support;

use keygate::app::http::Request;
use keygate::assertion::verify::{verify, Refusal};
use keygate::webhook::{sign, Scheme, WebhookSecret};
use serde_json::{json, Value};
use support::*;

/// RFC 8032's TEST 1 and TEST 2 keys as JWKs (RFC 8037 writes the first).
const KEY_1: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"one","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
const KEY_2: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"two","d":"TM0Imyj_ltqdtsNG7BFOD1uKMZ81q6Yk2oz27U-4pvs","x":"PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw"}"#;
const ORIGIN: &str = "https://origin.example/base";

fn signing_config(extra: &[(&str, &str)]) -> keygate::config::Config {
    let mut vars = vec![("ADMIN_TOKEN", ADMIN_TOKEN), ("ORIGIN", "https://origin.example/base/")];
    vars.extend_from_slice(extra);
    config(&vars)
}

fn assertions(sent: &keygate::testing::Sent) -> Vec<&str> {
    sent.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-keygate-assertion"))
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn the_origin_receives_an_assertion_that_the_jwks_verifies() {
    let harness = Harness::with_config(signing_config(&[("ASSERTION_SIGNING_KEY", KEY_1)]));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["things:read", "bots:*"], |_| {});
        let jwks = h.send(Request::new("GET", "/.well-known/jwks.json"));
        assert_eq!(jwks.status, 200);
        assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
        assert_eq!(jwks.header("content-type"), Some("application/json"));
        let document = jwks.json_body();
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let public = json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "one", "use": "sig", "alg": "EdDSA"});
        assert_eq!(document, json!({"keys": [public]}));

        let request = Request::new("GET", "/v1/projects/acme/things/%61b?page=2")
            .with_header("Authorization", &format!("Bearer {key}"))
            .with_header("X-Keygate-Assertion", "forged.by.client");
        assert_eq!(h.send(request).status, 200);
        let sent = harness.origin.received().pop().unwrap();
        assert_eq!(sent.url, "https://origin.example/base/v1/projects/acme/things/ab?page=2");
        let received = assertions(&sent);
        assert_eq!(received.len(), 1, "the client's copy is gone, keygate's is there");
        let now = NOW / 1000;
        let claims =
            verify(received[0], &String::from_utf8_lossy(jwks.body.bytes()), "https://keygate.test", ORIGIN, now)
                .unwrap();
        let key_id = sent.headers.iter().find(|(n, _)| n == "x-keygate-key-id").unwrap().1.clone();
        assert_eq!(claims["sub"], key_id);
        assert_eq!(claims["project"], "acme");
        assert_eq!(claims["scopes"], json!(["things:read", "bots:*"]));
        assert_eq!((claims["iat"].as_i64(), claims["exp"].as_i64()), (Some(now), Some(now + 60)));
        assert_eq!(claims["htm"], "GET");
        assert_eq!(
            claims["htu"], "https://origin.example/base/v1/projects/acme/things/ab",
            "what the origin got, no query"
        );
        assert_eq!(claims["jti"].as_str().unwrap().len(), 22);
        assert!(claims.get("owner_id").is_none(), "a key without an owner has no owner_id claim");
        assert_eq!(
            verify(received[0], jwks_text(&jwks), "https://keygate.test", ORIGIN, now + 60),
            Err(Refusal::Expired)
        );

        // Each request its own assertion, bound to its own method and URL.
        let post = Request::new("POST", "/v1/projects/acme/bots").with_header("X-API-Key", &key);
        assert_eq!(h.send(post).status, 200);
        let sent = harness.origin.received().pop().unwrap();
        let second = verify(assertions(&sent)[0], jwks_text(&jwks), "https://keygate.test", ORIGIN, now).unwrap();
        assert_eq!(
            (second["htm"].as_str(), second["htu"].as_str()),
            (Some("POST"), Some("https://origin.example/base/v1/projects/acme/bots"))
        );
        assert_ne!(second["jti"], claims["jti"]);
    })
}

fn jwks_text(response: &keygate::app::http::Response) -> &str {
    std::str::from_utf8(response.body.bytes()).unwrap()
}

#[test]
fn the_configured_issuer_is_named_and_the_first_key_signs() {
    let keys = format!("[{KEY_2},{KEY_1}]");
    let harness = Harness::with_config(signing_config(&[
        ("ASSERTION_SIGNING_KEY", &keys),
        ("ASSERTION_ISSUER", "https://gw.example"),
    ]));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["things:read"], |_| {});
        let jwks = h.send(Request::new("GET", "/.well-known/jwks.json"));
        let kids: Vec<Value> = jwks.json_body()["keys"].as_array().unwrap().iter().map(|k| k["kid"].clone()).collect();
        assert_eq!(kids, vec![json!("two"), json!("one")]);
        let request =
            Request::new("GET", "/v1/projects/acme/things").with_header("Authorization", &format!("Bearer {key}"));
        assert_eq!(h.send(request).status, 200);
        let sent = harness.origin.received().pop().unwrap();
        let token = assertions(&sent)[0].to_owned();
        assert!(verify(&token, jwks_text(&jwks), "https://gw.example", ORIGIN, NOW / 1000).is_ok());
        assert_eq!(verify(&token, jwks_text(&jwks), "https://keygate.test", ORIGIN, NOW / 1000), Err(Refusal::Issuer));
        // Signed by `two`: a set that lists only `one` does not verify it.
        let only_one =
            r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"one","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        assert_eq!(verify(&token, only_one, "https://gw.example", ORIGIN, NOW / 1000), Err(Refusal::UnknownKey));
    })
}

#[test]
fn without_a_signing_key_there_is_no_assertion_and_no_jwks() {
    let harness = Harness::with_config(signing_config(&[]));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["things:read"], |_| {});
        let request = Request::new("GET", "/v1/projects/acme/things")
            .with_header("Authorization", &format!("Bearer {key}"))
            .with_header("X-Keygate-Assertion", "forged.by.client")
            .with_header("x_keygate_assertion", "forged.by.client");
        assert_eq!(h.send(request).status, 200);
        let sent = harness.origin.received().pop().unwrap();
        assert!(
            assertions(&sent).is_empty() && !sent.headers.iter().any(|(n, _)| n.contains("assertion")),
            "{:?}",
            sent.headers
        );
        let jwks = h.send(Request::new("GET", "/.well-known/jwks.json"));
        assert_eq!((jwks.status, code(&jwks)), (404, "NOT_FOUND".to_owned()));
        // `/.well-known/` is keygate's: nothing under it is forwarded.
        for path in ["/.well-known/openid-configuration", "/.well-known/jwks.json/x"] {
            let answer = h.send(Request::new("GET", path).with_header("Authorization", &format!("Bearer {key}")));
            assert_eq!((answer.status, code(&answer)), (404, "NOT_FOUND".to_owned()), "{path}");
        }
        let post = h.send(Request::new("POST", "/.well-known/jwks.json"));
        assert_eq!(post.status, 405);
        assert_eq!(harness.origin.received().len(), 1);
    })
}

#[test]
fn a_webhook_forward_carries_no_assertion() {
    let harness = Harness::with_config(signing_config(&[
        ("ASSERTION_SIGNING_KEY", KEY_1),
        ("WEBHOOKS", r#"{"chat":{"scheme":"hmac-sha256","forward_to":"https://origin.example/chat"}}"#),
        ("WEBHOOK_SECRET_CHAT", "chat secret"),
    ]));
    harness.with_limiter(|h| {
        let body = r#"{"text":"hi"}"#;
        let secret = WebhookSecret::parse(&Scheme::HmacSha256 { header: "x-signature".into() }, "chat secret").unwrap();
        let request = Request::new("POST", "/webhooks/chat")
            .with_header("X-Signature", &format!("sha256={}", hex::encode(sign(&secret, &[body.as_bytes()]))))
            .with_header("X-Keygate-Assertion", "forged.by.client")
            .with_body(body);
        assert_eq!(h.send(request).status, 200);
        let sent = harness.origin.received().pop().unwrap();
        assert_eq!(sent.url, "https://origin.example/chat");
        assert!(assertions(&sent).is_empty(), "{:?}", sent.headers);
    })
}

#[test]
fn a_bad_signing_key_is_a_config_error_that_never_shows_the_private_key() {
    let wrong = KEY_1.replace("\"x\":\"11", "\"x\":\"21");
    let problems = keygate::config::Config::from_vars(|name| (name == "ASSERTION_SIGNING_KEY").then(|| wrong.clone()))
        .unwrap_err();
    let answer = keygate::app::unconfigured(&Request::new("GET", "/v1/projects/acme/things"), &problems);
    assert_eq!((answer.status, code(&answer)), (500, "CONFIG_ERROR".to_owned()));
    let text = String::from_utf8_lossy(answer.body.bytes()).into_owned();
    assert!(text.contains("ASSERTION_SIGNING_KEY") && !text.contains("nWGxne_9WmC6hEr0"), "{text}");
    let health = keygate::app::unconfigured(&Request::new("GET", "/healthz"), &problems);
    assert!(String::from_utf8_lossy(health.body.bytes()).contains("`x` is not the public key of `d`"));
}

/// The memory origin, whose signing always fails (as WebCrypto might).
struct SigningFails<'o>(&'o keygate::testing::MemoryOrigin);

impl keygate::app::origin::Origin for SigningFails<'_> {
    async fn send(
        &self,
        request: keygate::app::origin::Outgoing<'_>,
    ) -> Result<keygate::app::http::Response, keygate::error::Error> {
        self.0.send(request).await
    }

    async fn fetch_bytes(
        &self,
        request: keygate::app::origin::Outgoing<'_>,
        limit: usize,
    ) -> Result<(u16, Vec<u8>), keygate::error::Error> {
        self.0.fetch_bytes(request, limit).await
    }

    async fn sign(&self, _: &keygate::assertion::KeySet, _: &str) -> Result<[u8; 64], keygate::error::Error> {
        Err(keygate::error::Error::Unavailable("WebCrypto failed".into()))
    }
}

#[test]
fn when_signing_fails_nothing_is_forwarded_unsigned() {
    let harness = Harness::with_config(signing_config(&[("ASSERTION_SIGNING_KEY", KEY_1)]));
    let key = seed(&harness.store, &["things:read"], |_| {});
    let app = keygate::app::App {
        config: &harness.config,
        keys: keygate::app::store::KeyStore::new(&harness.store),
        limiter: keygate::testing::MemoryLimiter::new(&harness.clock),
        origin: SigningFails(&harness.origin),
        clock: &harness.clock,
    };
    let request =
        Request::new("GET", "/v1/projects/acme/things").with_header("Authorization", &format!("Bearer {key}"));
    let answer = send(&app, request);
    assert_eq!((answer.status, code(&answer)), (503, "UNAVAILABLE".to_owned()));
    assert!(harness.origin.received().is_empty());
}

/// A key with an owner: the assertion names it, so the origin can bill or limit the customer.
#[test]
fn the_assertion_names_the_keys_owner() {
    let harness = Harness::with_config(signing_config(&[("ASSERTION_SIGNING_KEY", KEY_1)]));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["things:read"], |record| {
            record.owner_id = Some(keygate::ids::OwnerId::parse("acct_42").unwrap());
        });
        let jwks = h.send(Request::new("GET", "/.well-known/jwks.json"));
        let request = Request::new("GET", "/v1/projects/acme/things").with_header("X-API-Key", &key);
        assert_eq!(h.send(request).status, 200);
        let sent = harness.origin.received().pop().unwrap();
        let claims =
            verify(assertions(&sent)[0], jwks_text(&jwks), "https://keygate.test", ORIGIN, NOW / 1000).unwrap();
        assert_eq!(claims["owner_id"], "acct_42");
    })
}

/// Review: rules match literal segments in any case (origins route so), so
/// keygate's namespace must be reserved in any case too: `/.WELL-KNOWN/…`
/// must not reach the origin (with a signed assertion) under a catch-all rule.
#[test]
fn no_spelling_of_well_known_is_forwarded() {
    let harness = Harness::with_config(signing_config(&[
        ("ASSERTION_SIGNING_KEY", KEY_1),
        ("ROUTES", r#"[{"method":"*","path":"/*","scope":"api:{action}"}]"#),
    ]));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["api:read"], |_| {});
        // The rule itself works for an ordinary path.
        let ok = h.send(Request::new("GET", "/things").with_header("X-API-Key", &key));
        assert_eq!(ok.status, 200);
        assert_eq!(harness.origin.received().len(), 1);
        for path in ["/.well-known/jwks.json", "/.WELL-KNOWN/jwks.json", "/.Well-Known/openid-configuration"] {
            h.send(Request::new("GET", path).with_header("X-API-Key", &key));
            let forwarded = harness.origin.received();
            assert_eq!(forwarded.len(), 1, "{path} was forwarded: {:?}", forwarded.last().map(|s| &s.url));
        }
    })
}
