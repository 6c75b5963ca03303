use super::*;
use crate::webhook::Scheme;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_vars(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))
}

#[test]
fn defaults_follow_the_contract() {
    let config = config(&[]).unwrap();
    assert_eq!(config.environment, Environment::Live);
    assert_eq!(config.key_prefixes, KeyPrefixes::default());
    assert_eq!(config.key_prefixes.current(), "sk");
    assert_eq!(config.key_headers, vec!["x-api-key"]);
    assert_eq!(config.plans["standard"], Quota::new(100, 10_000).unwrap());
    assert_eq!(config.plans["professional"], Quota::new(300, 50_000).unwrap());
    assert_eq!(config.default_plan, "standard");
    assert_eq!(config.admin_token, None);
    assert!(config.dashboard);
}

#[test]
fn the_dashboard_is_on_or_off() {
    assert!(config(&[("DASHBOARD", "on")]).unwrap().dashboard);
    assert!(!config(&[("DASHBOARD", " off ")]).unwrap().dashboard);
    let problems = config(&[("DASHBOARD", "no")]).unwrap_err().problems;
    assert_eq!(problems, vec!["DASHBOARD: must be `on` or `off`"]);
}

#[test]
fn key_prefix_is_a_list_whose_first_item_names_new_keys() {
    let prefixes = config(&[("KEY_PREFIX", "acme, sk")]).unwrap().key_prefixes;
    assert_eq!(prefixes.current(), "acme");
    assert_eq!(prefixes.iter().collect::<Vec<_>>(), ["acme", "sk"]);
    assert_eq!(config(&[("KEY_PREFIX", "a1b2c3d4e5f6")]).unwrap().key_prefixes.current(), "a1b2c3d4e5f6");
}

#[test]
fn invalid_key_prefixes_are_config_errors() {
    for bad in ["", "Acme", "SK", "abcdefghijklm", "a", "1acme", "acme,", "acme,,sk", ",sk", "ac-me", "sk,sk"] {
        let problems = config(&[("KEY_PREFIX", bad)]).unwrap_err().problems;
        assert_eq!(problems.len(), 1, "{bad:?}: {problems:?}");
        assert!(problems[0].starts_with("KEY_PREFIX: "), "{bad:?}: {problems:?}");
    }
}

#[test]
fn key_headers_are_lower_cased_and_deduplicated() {
    let config = config(&[("KEY_HEADERS", " X-API-Key, X-TLM-Key ,x-api-key,")]).unwrap();
    assert_eq!(config.key_headers, vec!["x-api-key", "x-tlm-key"]);
}

#[test]
fn each_bad_variable_is_named() {
    let problems = config(&[
        ("ENVIRONMENT", "prod"),
        ("KEY_HEADERS", "X Bad"),
        ("PLANS", "{\"free\":{\"per_minute\":0,\"per_day\":5}}"),
        ("ADMIN_TOKEN", "short"),
    ])
    .unwrap_err()
    .problems;
    assert_eq!(problems.len(), 4, "{problems:?}");
    for (problem, name) in problems.iter().zip(["ENVIRONMENT", "KEY_HEADERS", "PLANS", "ADMIN_TOKEN"]) {
        assert!(problem.starts_with(name), "{problem}");
    }
}

#[test]
fn plans_must_parse_and_contain_the_default() {
    assert!(config(&[("PLANS", "not json")]).unwrap_err().problems[0].starts_with("PLANS: not valid JSON"));
    assert!(config(&[("PLANS", "[]")]).is_err());
    assert!(config(&[("PLANS", "{\"a\":{\"per_minute\":1}}")]).is_err());
    assert!(config(&[("PLANS", "{\"a\":{\"per_minute\":-1,\"per_day\":1}}")]).is_err());
    let missing_default = config(&[("PLANS", "{\"free\":{\"per_minute\":1,\"per_day\":2}}")]).unwrap_err();
    assert!(missing_default.problems[0].starts_with("DEFAULT_PLAN"), "{missing_default:?}");
    let ok = config(&[("PLANS", "{\"free\":{\"per_minute\":1,\"per_day\":2}}"), ("DEFAULT_PLAN", "free")]);
    assert_eq!(ok.unwrap().plans["free"], Quota::new(1, 2).unwrap());
}

#[test]
fn webhook_sources_need_a_known_scheme_and_their_secret() {
    let webhooks = r#"{"gh":{"scheme":"github"},"chat-bot":{"scheme":"hmac-sha256","header":"X-Chatbot-Signature","forward_to":"https://origin.example/hooks"}}"#;
    let ok = config(&[
        ("WEBHOOKS", webhooks),
        ("WEBHOOK_SECRET_GH", "a secret with spaces"),
        ("WEBHOOK_SECRET_CHAT_BOT", r#"["old one", "new one"]"#),
    ])
    .unwrap();
    assert_eq!(ok.webhooks["gh"].scheme, Scheme::Github);
    assert_eq!(ok.webhooks["gh"].tolerance_seconds, 300);
    assert_eq!(ok.webhooks["chat-bot"].secrets.len(), 2);
    assert_eq!(ok.webhooks["chat-bot"].scheme, Scheme::HmacSha256 { header: "x-chatbot-signature".into() });
    assert_eq!(ok.webhooks["chat-bot"].forward_to.as_deref(), Some("https://origin.example/hooks"));

    let missing = config(&[("WEBHOOKS", webhooks), ("WEBHOOK_SECRET_GH", "s")]).unwrap_err();
    assert_eq!(missing.problems.len(), 1);
    assert!(missing.problems[0].starts_with("WEBHOOK_SECRET_CHAT_BOT"), "{missing:?}");
    let unknown = config(&[("WEBHOOKS", r#"{"x":{"scheme":"md5"}}"#), ("WEBHOOK_SECRET_X", "s")]).unwrap_err();
    assert!(unknown.problems[0].contains("md5"), "{unknown:?}");
    let empty_standard = config(&[("WEBHOOKS", r#"{"s":{"scheme":"standard"}}"#), ("WEBHOOK_SECRET_S", "whsec_")]);
    assert!(empty_standard.unwrap_err().problems[0].starts_with("WEBHOOK_SECRET_S"));
    for bad in [
        r#"{"x":{"scheme":"github","tolerance_seconds":0}}"#,
        r#"{"x":{"scheme":"github","header":"X-Sig"}}"#,
        r#"{"x":{"scheme":"github","forward_to":"ftp://x"}}"#,
        r#"{"x":{"scheme":"github","extra":1}}"#,
        r#"{"X":{"scheme":"github"}}"#,
        "[]",
    ] {
        assert!(config(&[("WEBHOOKS", bad), ("WEBHOOK_SECRET_X", "s")]).is_err(), "{bad}");
    }
    assert!(config(&[("MAX_WEBHOOK_BYTES", "0")]).is_err());
    assert_eq!(config(&[("MAX_WEBHOOK_BYTES", "2048")]).unwrap().max_webhook_bytes, 2048);
    assert_eq!(config(&[("MAX_WEBHOOK_BYTES", "26214400")]).unwrap().max_webhook_bytes, 26_214_400);
    assert!(config(&[("MAX_WEBHOOK_BYTES", "26214401")]).is_err());
}

#[test]
fn audit_retention_is_whole_days_within_ten_years() {
    assert_eq!(audit_retention_days(None), Ok(400));
    assert_eq!(audit_retention_days(Some(" 30 ".into())), Ok(30));
    for bad in ["0", "3651", "-1", "a year", "1.5"] {
        assert!(audit_retention_days(Some(bad.into())).is_err(), "{bad}");
        assert!(config(&[("AUDIT_RETENTION_DAYS", bad)]).is_err(), "{bad}");
    }
}

#[test]
fn origin_and_routes_are_validated() {
    assert_eq!(config(&[]).unwrap().origin, None);
    assert_eq!(config(&[("ORIGIN", "")]).unwrap().origin, None);
    assert_eq!(
        config(&[("ORIGIN", "https://api.example/base/")]).unwrap().origin.as_deref(),
        Some("https://api.example/base")
    );
    for bad in ["api.example", "ftp://x", "https://", "https://x?y=1"] {
        assert!(config(&[("ORIGIN", bad)]).unwrap_err().problems[0].starts_with("ORIGIN"), "{bad}");
    }
    assert_eq!(config(&[]).unwrap().routes.len(), 1);
    assert!(config(&[("ROUTES", "[]")]).unwrap_err().problems[0].starts_with("ROUTES"));
}

#[test]
fn authorization_cannot_be_a_key_header() {
    assert!(config(&[("KEY_HEADERS", "Authorization")]).is_err());
}

#[test]
fn an_empty_admin_token_disables_admin_token_auth() {
    assert_eq!(config(&[("ADMIN_TOKEN", "")]).unwrap().admin_token, None);
    let token = "0123456789abcdef";
    assert_eq!(config(&[("ADMIN_TOKEN", token)]).unwrap().admin_token.as_deref(), Some(token));
    assert!(!format!("{:?}", config(&[("ADMIN_TOKEN", token)]).unwrap()).contains(token));
}

#[test]
fn events_need_an_http_url_and_a_standard_secret() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert!(config(&[]).unwrap().events.is_none());
    assert!(config(&[("EVENTS_URL", " "), ("EVENTS_SECRET", SECRET)]).unwrap().events.is_none());
    let events = config(&[("EVENTS_URL", "https://hooks.example/keygate?team=1"), ("EVENTS_SECRET", SECRET)])
        .unwrap()
        .events
        .unwrap();
    assert_eq!((events.url.as_str(), events.retry_seconds), ("https://hooks.example/keygate?team=1", 10));
    assert!(!format!("{events:?}").contains("MfKQ"), "the secret is never shown");
    let problem = |vars: &[(&str, &str)]| config(vars).unwrap_err().problems[0].clone();
    assert!(problem(&[("EVENTS_URL", "https://hooks.example")]).starts_with("EVENTS_SECRET"));
    assert!(problem(&[("EVENTS_URL", "https://h.example"), ("EVENTS_SECRET", "whsec_!!")]).starts_with("EVENTS_SECRET"));
    let short = [("EVENTS_URL", "https://h.example"), ("EVENTS_SECRET", "whsec_c2hvcnQ=")];
    assert!(problem(&short).starts_with("EVENTS_SECRET"), "a 5-byte key is guessable");
    for bad in ["hooks.example", "ftp://h.example", "https://", "https:///x", "https://h.example/#x"] {
        assert!(problem(&[("EVENTS_URL", bad), ("EVENTS_SECRET", SECRET)]).starts_with("EVENTS_URL"), "{bad}");
    }
    let slow = [("EVENTS_URL", "http://h.example"), ("EVENTS_SECRET", SECRET), ("EVENTS_RETRY_SECONDS", "0")];
    assert!(problem(&slow).starts_with("EVENTS_RETRY_SECONDS"));
    assert!(events_on(Some("https://h.example".into())));
    assert!(!events_on(Some("".into())) && !events_on(None));
}

#[test]
fn vault_key_is_optional_and_a_malformed_one_is_named_but_never_echoed() {
    assert!(config(&[]).unwrap().vault.is_none());
    assert!(config(&[("VAULT_KEY", " ")]).unwrap().vault.is_none());
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let vault = config(&[("VAULT_KEY", key)]).unwrap().vault.unwrap();
    assert_eq!(vault.key_ids().len(), 1);
    let rotated = config(&[("VAULT_KEY", &format!(r#"["{key}", "{key}"]"#))]).unwrap().vault.unwrap();
    assert_eq!(rotated.key_ids().len(), 2);
    let secretish = "c2VjcmV0LXRoYXQtaXMtdG9vLXNob3J0";
    let problems = config(&[("VAULT_KEY", secretish)]).unwrap_err().problems;
    assert_eq!(problems.len(), 1);
    assert!(problems[0].starts_with("VAULT_KEY: must be 32 random bytes in base64"), "{problems:?}");
    assert!(!problems[0].contains(secretish), "{problems:?}");
    let config = config(&[("VAULT_KEY", key)]).unwrap();
    assert!(!format!("{config:?}").contains(key));
}

#[test]
fn the_assertion_key_set_is_optional_and_checked() {
    assert!(config(&[]).unwrap().assertion.is_none());
    assert!(config(&[("ASSERTION_SIGNING_KEY", " ")]).unwrap().assertion.is_none());
    // RFC 8032's TEST 1 key, as RFC 8037 writes it.
    let d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    let key = format!(
        r#"{{"kty":"OKP","crv":"Ed25519","d":"{d}","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1"}}"#
    );
    let assertion = config(&[("ASSERTION_SIGNING_KEY", &key)]).unwrap().assertion.unwrap();
    assert_eq!(assertion.keys.signing_kid(), "k1");
    assert_eq!(assertion.issuer, None);
    let issued = config(&[("ASSERTION_SIGNING_KEY", &key), ("ASSERTION_ISSUER", " https://gw.example ")]).unwrap();
    assert_eq!(issued.assertion.as_ref().unwrap().issuer.as_deref(), Some("https://gw.example"));
    assert!(!format!("{issued:?}").contains(d), "Debug never shows the private key");

    let wrong_x = key.replace("11qYAYKxCrfVS", "21qYAYKxCrfVS");
    let problems = config(&[("ASSERTION_SIGNING_KEY", &wrong_x)]).unwrap_err().problems;
    assert_eq!(problems, vec!["ASSERTION_SIGNING_KEY: key 1: `x` is not the public key of `d`"]);
    let problems = config(&[("ASSERTION_SIGNING_KEY", &key), ("ASSERTION_ISSUER", "an issuer")]).unwrap_err().problems;
    assert_eq!(problems, vec!["ASSERTION_ISSUER: must be 1 to 256 printable ASCII characters without spaces"]);
    let problems = config(&[("ASSERTION_SIGNING_KEY", &key[1..])]).unwrap_err().problems;
    assert!(problems[0].starts_with("ASSERTION_SIGNING_KEY: ") && !problems[0].contains(d), "{problems:?}");
}
