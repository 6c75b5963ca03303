//! The admin API over in-memory KV: lifecycle, validation, credentials, pagination.

mod support;

use keygate::app::http::Request;
use serde_json::{json, Value};
use support::*;

#[test]
fn create_answers_the_key_once_and_stores_only_its_digest() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "ci bot", "scopes": ["bots:read", "bots:read", "keys:read"]}));
        let key = created["key"].as_str().unwrap();
        assert!(key.starts_with("sk_live_"));
        assert_eq!(created["prefix"], &key[..12]);
        assert_eq!(created["project"], "acme");
        assert_eq!(created["name"], "ci bot");
        assert_eq!(created["scopes"], json!(["bots:read", "keys:read"]));
        assert_eq!(created["environment"], "live");
        assert_eq!(created["status"], "active");
        assert_eq!(created["plan"], "standard");
        assert_eq!(created["rate_limit"], json!({"per_minute": 100, "per_day": 10000}));
        assert_eq!(created["meta"], json!({}));
        assert_eq!(created["created_at"], "2026-11-23T08:00:00Z");
        assert_eq!(created["expires_at"], Value::Null);
        assert!(created["id"].as_str().unwrap().starts_with("key_"));
        assert_eq!(h.verify(key, Some("bots:read"))["valid"], true);

        for (name, value, metadata) in h.harness.store.dump() {
            let everything = format!("{name} {value} {metadata:?}");
            assert!(!everything.contains(&key[8..]), "plaintext key stored under {name}");
        }
        let fetched =
            h.root("GET", &format!("/v1/projects/acme/keys/{}", created["id"].as_str().unwrap()), Value::Null);
        assert_eq!(fetched.status, 200);
        assert!(fetched.json_body().get("key").is_none(), "the secret is shown only once");
        let mut expected = created.clone();
        expected.as_object_mut().unwrap().remove("key");
        expected["last_used_at"] = json!("2026-11-23T08:00:00Z");
        assert_eq!(fetched.json_body(), expected, "as created, and used once (the verification above)");
    })
}

#[test]
fn create_takes_plan_rate_limit_environment_expiry_and_meta() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let custom = h.create(
            "acme",
            json!({"name": "n", "rate_limit": {"per_minute": 30, "per_day": 5}, "environment": "test",
               "expires_at": "2027-01-01T00:00:00+01:00", "meta": {"team": "billing"}}),
        );
        assert_eq!(custom["plan"], Value::Null);
        assert_eq!(custom["rate_limit"], json!({"per_minute": 30, "per_day": 5}));
        assert_eq!(custom["environment"], "test");
        assert!(custom["key"].as_str().unwrap().starts_with("sk_test_"));
        assert_eq!(custom["expires_at"], "2026-12-31T23:00:00Z");
        assert_eq!(custom["meta"], json!({"team": "billing"}));
        let pro = h.create("acme", json!({"name": "n", "plan": "professional"}));
        assert_eq!(pro["rate_limit"], json!({"per_minute": 300, "per_day": 50000}));
    })
}

#[test]
fn every_bad_create_is_400_and_stores_nothing() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let long_meta = json!({"blob": "x".repeat(1100)});
        let too_many: Vec<String> = (0..65).map(|i| format!("r{i}:read")).collect();
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!({"scopes": []}), "VALIDATION_ERROR", "name"),
            (json!({"name": ""}), "VALIDATION_ERROR", "name"),
            (json!({"name": "   "}), "VALIDATION_ERROR", "name"),
            (json!({"name": "x".repeat(101)}), "VALIDATION_ERROR", "name"),
            (json!({"name": 5}), "VALIDATION_ERROR", "name"),
            (json!({"name": "n", "scopes": "bots:read"}), "VALIDATION_ERROR", "scopes"),
            (json!({"name": "n", "scopes": ["Bots:read"]}), "VALIDATION_ERROR", "scopes"),
            (json!({"name": "n", "scopes": [1]}), "VALIDATION_ERROR", "scopes"),
            (json!({"name": "n", "scopes": too_many}), "VALIDATION_ERROR", "scopes"),
            (json!({"name": "n", "meta": long_meta}), "VALIDATION_ERROR", "meta"),
            (json!({"name": "n", "meta": [1]}), "VALIDATION_ERROR", "meta"),
            (json!({"name": "n", "expires_at": "2020-01-01T00:00:00Z"}), "VALIDATION_ERROR", "expires_at"),
            (json!({"name": "n", "expires_at": "next week"}), "VALIDATION_ERROR", "expires_at"),
            (json!({"name": "n", "expires_at": 1_900_000_000}), "VALIDATION_ERROR", "expires_at"),
            (json!({"name": "n", "plan": "gold"}), "VALIDATION_ERROR", "plan"),
            (json!({"name": "n", "rate_limit": {"per_minute": 0, "per_day": 5}}), "VALIDATION_ERROR", "rate_limit"),
            (json!({"name": "n", "rate_limit": {"per_minute": -1, "per_day": 5}}), "VALIDATION_ERROR", "rate_limit"),
            (json!({"name": "n", "rate_limit": {"per_minute": 1}}), "VALIDATION_ERROR", "rate_limit"),
            (
                json!({"name": "n", "plan": "standard", "rate_limit": {"per_minute": 1, "per_day": 1}}),
                "VALIDATION_ERROR",
                "rate_limit",
            ),
            (json!({"name": "n", "environment": "prod"}), "VALIDATION_ERROR", "environment"),
            (json!({"name": "n", "scope": ["bots:read"]}), "VALIDATION_ERROR", "scope"),
        ];
        for (body, expected_code, field) in cases {
            let response = h.root("POST", "/v1/projects/acme/keys", body.clone());
            assert_eq!(response.status, 400, "{body}");
            assert_eq!(code(&response), expected_code, "{body}");
            assert_eq!(response.json_body()["error"]["field"], field, "{body}");
        }
        for raw in ["{\"name\":", "[]", "", "null"] {
            let request = Request::new("POST", "/v1/projects/acme/keys")
                .with_header("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
                .with_body(raw);
            assert_eq!(code(&h.send(request)), "INVALID_JSON", "{raw:?}");
        }
        assert!(h.harness.store.dump().is_empty(), "nothing may be stored");
    })
}

#[test]
fn lifecycle_patch_disable_rotate_delete() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created =
            h.create("acme", json!({"name": "svc", "scopes": ["bots:write", "users:read"], "meta": {"a": 1}}));
        let key = created["key"].as_str().unwrap().to_owned();
        let path = format!("/v1/projects/acme/keys/{}", created["id"].as_str().unwrap());
        assert_eq!(h.verify(&key, Some("bots:read"))["valid"], true);

        h.harness.clock.advance(1000);
        let patched = h.root("PATCH", &path, json!({"scopes": ["users:read"], "name": "svc2"}));
        assert_eq!(patched.status, 200);
        assert_eq!(patched.json_body()["scopes"], json!(["users:read"]));
        assert_eq!(patched.json_body()["name"], "svc2");
        assert_eq!(patched.json_body()["meta"], json!({"a": 1}), "PATCH is partial");
        assert_eq!(patched.json_body()["updated_at"], "2026-11-23T08:00:01Z");
        let denied = h.verify(&key, Some("bots:read"));
        assert_eq!(
            (denied["code"].as_str(), denied["required_scope"].as_str()),
            (Some("INSUFFICIENT_PERMISSIONS"), Some("bots:read"))
        );

        assert_eq!(h.root("PATCH", &path, json!({"status": "inactive"})).status, 200);
        assert_eq!(h.verify(&key, None)["code"], "API_KEY_DISABLED");
        assert_eq!(
            h.root("PATCH", &path, json!({"status": "active", "expires_at": "2026-11-23T09:00:00Z"})).status,
            200
        );
        assert_eq!(h.verify(&key, None)["valid"], true);
        let cleared = h.root("PATCH", &path, json!({"expires_at": null, "meta": null}));
        assert_eq!(
            (cleared.json_body()["expires_at"].clone(), cleared.json_body()["meta"].clone()),
            (Value::Null, json!({}))
        );

        let rotated = h.root("POST", &format!("{path}/rotate"), json!({"grace_seconds": 0}));
        assert_eq!(rotated.status, 201);
        let rotated = rotated.json_body();
        let new_key = rotated["key"].as_str().unwrap().to_owned();
        assert_ne!(rotated["id"], created["id"]);
        assert_eq!(rotated["rotated_from"], created["id"]);
        assert_eq!(rotated["scopes"], json!(["users:read"]));
        assert_eq!(rotated["name"], "svc2");
        assert_eq!(h.verify(&key, None)["code"], "API_KEY_EXPIRED");
        assert_eq!(h.verify(&new_key, Some("users:read"))["valid"], true);

        let new_path = format!("/v1/projects/acme/keys/{}", rotated["id"].as_str().unwrap());
        let deleted = h.root("DELETE", &new_path, Value::Null);
        assert_eq!((deleted.status, deleted.body.bytes().len()), (204, 0));
        assert_eq!(h.verify(&new_key, None)["code"], "INVALID_API_KEY");
        assert_eq!(code(&h.root("GET", &new_path, Value::Null)), "KEY_NOT_FOUND");
        assert_eq!(code(&h.root("DELETE", &new_path, Value::Null)), "KEY_NOT_FOUND");
    })
}

#[test]
fn rotation_grace_keeps_the_old_key_until_it_ends() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "svc"}));
        let path = format!("/v1/projects/acme/keys/{}/rotate", created["id"].as_str().unwrap());
        assert_eq!(h.root("POST", &path, json!({"grace_seconds": 604_801})).status, 400);
        assert_eq!(h.root("POST", &path, json!({"grace_seconds": -1})).status, 400);
        assert_eq!(h.root("POST", &path, json!({"grace_seconds": 3600})).status, 201);
        let old = created["key"].as_str().unwrap();
        h.harness.clock.advance(3_599_999);
        assert_eq!(h.verify(old, None)["valid"], true);
        h.harness.clock.advance(1);
        assert_eq!(h.verify(old, None)["code"], "API_KEY_EXPIRED");
    })
}

#[test]
fn bad_patches_are_400_and_change_nothing() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let created = h.create("acme", json!({"name": "svc", "scopes": ["bots:read"]}));
        let path = format!("/v1/projects/acme/keys/{}", created["id"].as_str().unwrap());
        let before = h.harness.store.dump();
        for (body, field) in [
            (json!({"status": "paused"}), "status"),
            (json!({"status": null}), "status"),
            (json!({"expires_at": "2020-01-01T00:00:00Z"}), "expires_at"),
            (json!({"name": ""}), "name"),
            (json!({"scopes": ["bad scope"]}), "scopes"),
            (json!({"environment": "test"}), "environment"),
            (json!({"name": "ok", "rate_limit": {"per_minute": 0, "per_day": 1}}), "rate_limit"),
        ] {
            let response = h.root("PATCH", &path, body.clone());
            assert_eq!(
                (response.status, response.json_body()["error"]["field"].clone()),
                (400, json!(field)),
                "{body}"
            );
        }
        assert_eq!(h.harness.store.dump(), before);
    })
}

#[test]
fn pagination_returns_every_key_exactly_once() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let mut ids: Vec<String> = (0..7)
            .map(|i| h.create("acme", json!({"name": format!("k{i}")}))["id"].as_str().unwrap().to_owned())
            .collect();
        h.create("other", json!({"name": "elsewhere"}));
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/projects/acme/keys?limit=3&cursor={c}"),
                None => "/v1/projects/acme/keys?limit=3".to_owned(),
            };
            let page = h.root("GET", &path, Value::Null).json_body();
            pages += 1;
            for key in page["keys"].as_array().unwrap() {
                assert!(key.get("key").is_none() && key["prefix"].as_str().unwrap().len() == 12, "masked");
                seen.push(key["id"].as_str().unwrap().to_owned());
            }
            match page["cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        ids.sort();
        seen.sort();
        assert_eq!(seen, ids);
        assert_eq!(
            h.root("GET", "/v1/projects/acme/keys", Value::Null).json_body()["keys"].as_array().unwrap().len(),
            7
        );
        for bad in ["limit=0", "limit=101", "limit=ten", "cursor=garbage", "cursor=AAAAAAAAAA"] {
            let response = h.root("GET", &format!("/v1/projects/acme/keys?{bad}"), Value::Null);
            assert_eq!(code(&response), "VALIDATION_ERROR", "{bad}");
        }
    })
}

#[test]
fn unknown_foreign_and_malformed_ids_are_not_found() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let other = h.create("other", json!({"name": "theirs"}));
        let foreign = format!("/v1/projects/acme/keys/{}", other["id"].as_str().unwrap());
        for path in
            [foreign.as_str(), "/v1/projects/acme/keys/key_0000000000000000000000", "/v1/projects/acme/keys/nope"]
        {
            let response = h.root("GET", path, Value::Null);
            assert_eq!((response.status, code(&response)), (404, "KEY_NOT_FOUND".to_owned()), "{path}");
            assert!(!String::from_utf8_lossy(response.body.bytes()).contains("theirs"));
        }
        assert_eq!(h.root("PATCH", &foreign, json!({"name": "mine"})).status, 404);
        assert_eq!(h.root("DELETE", &foreign, Value::Null).status, 404);
    })
}

#[test]
fn bad_project_ids_and_methods_are_refused() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        for project in ["Acme", "-acme", "a%3Ab", &"a".repeat(65)] {
            let response = h.root("GET", &format!("/v1/projects/{project}/keys"), Value::Null);
            assert_eq!((response.status, response.json_body()["error"]["field"].clone()), (400, json!("project")));
        }
        let encoded_slash = h.root("GET", "/v1/projects/a%2Fb/keys", Value::Null);
        assert_eq!((encoded_slash.status, code(&encoded_slash)), (400, "INVALID_PATH".to_owned()));
        let response = h.root("PUT", "/v1/projects/acme/keys", Value::Null);
        assert_eq!((response.status, response.header("allow")), (405, Some("GET, POST")));
    })
}

#[test]
fn admin_credentials_are_checked() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let none = h.send(Request::new("GET", "/v1/projects/acme/keys"));
        assert_eq!((none.status, code(&none)), (401, "MISSING_API_KEY".to_owned()));
        assert_eq!(none.header("www-authenticate"), Some("Bearer realm=\"keygate\""));
        let wrong = h.call("GET", "/v1/projects/acme/keys", "not-the-admin-token", Value::Null);
        assert_eq!((wrong.status, code(&wrong)), (401, "INVALID_API_KEY".to_owned()));
        let basic = h.send(Request::new("GET", "/v1/projects/acme/keys").with_header("Authorization", "Basic abc"));
        assert_eq!(basic.status, 401);
        let both = h.send(
            Request::new("GET", "/v1/projects/acme/keys")
                .with_header("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
                .with_header("X-API-Key", "sk_live_x"),
        );
        assert_eq!(code(&both), "AMBIGUOUS_CREDENTIALS");
    })
}

#[test]
fn without_admin_token_only_keys_administer() {
    let harness = Harness::with_config(config(&[]));
    harness.with_limiter(|h| {
        let key = seed(&h.harness.store, &["keys:write"], |_| {});
        let refused = h.call("GET", "/v1/projects/acme/keys", "some-admin-token-guess", Value::Null);
        assert_eq!(refused.status, 401);
        assert!(refused.json_body()["error"]["message"].as_str().unwrap().contains("ADMIN_TOKEN"));
        let listed = h.call("GET", "/v1/projects/acme/keys", &key, Value::Null);
        assert_eq!(listed.status, 200);
    })
}

#[test]
fn a_key_administers_its_own_project_within_its_own_scopes() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let reader = seed(&h.harness.store, &["keys:read"], |_| {});
        let writer = seed(&h.harness.store, &["keys:write", "bots:*"], |_| {});
        let keys_path = "/v1/projects/acme/keys";

        assert_eq!(h.call("GET", keys_path, &reader, Value::Null).status, 200);
        let read_only = h.call("POST", keys_path, &reader, json!({"name": "n"}));
        assert_eq!(
            (read_only.status, read_only.json_body()["error"]["required_scope"].clone()),
            (403, json!("keys:write"))
        );

        let foreign = h.call("GET", "/v1/projects/other/keys", &writer, Value::Null);
        assert_eq!((foreign.status, code(&foreign)), (403, "PROJECT_MISMATCH".to_owned()));
        let foreign_create = h.call("POST", "/v1/projects/other/keys", &writer, json!({"name": "n"}));
        assert_eq!(code(&foreign_create), "PROJECT_MISMATCH");

        let minted = h.call("POST", keys_path, &writer, json!({"name": "n", "scopes": ["bots:read", "keys:read"]}));
        assert_eq!(minted.status, 201);
        for scopes in [json!(["admin"]), json!(["users:read"]), json!(["keys:*"])] {
            let escalation = h.call("POST", keys_path, &writer, json!({"name": "n", "scopes": scopes}));
            assert_eq!(
                (escalation.status, code(&escalation)),
                (403, "INSUFFICIENT_PERMISSIONS".to_owned()),
                "{scopes}"
            );
        }

        let admin_key = h.create("acme", json!({"name": "root-ish", "scopes": ["admin"]}));
        let admin_path = format!("{keys_path}/{}", admin_key["id"].as_str().unwrap());
        for (method, path, body) in [
            ("POST", format!("{admin_path}/rotate"), json!({})),
            ("DELETE", admin_path.clone(), Value::Null),
            ("PATCH", admin_path.clone(), json!({"name": "mine now"})),
        ] {
            let response = h.call(method, &path, &writer, body);
            assert_eq!(
                (response.status, code(&response)),
                (403, "INSUFFICIENT_PERMISSIONS".to_owned()),
                "{method} {path}"
            );
        }
        let minted_path = format!("{keys_path}/{}", minted.json_body()["id"].as_str().unwrap());
        let widen = h.call("PATCH", &minted_path, &writer, json!({"scopes": ["admin"]}));
        assert_eq!(widen.status, 403);
        assert_eq!(h.call("PATCH", &minted_path, &writer, json!({"scopes": ["bots:*"]})).status, 200);
    })
}

#[test]
fn storage_failure_is_503_for_admin_routes() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        h.harness.store.fail(true);
        let response = h.root("POST", "/v1/projects/acme/keys", json!({"name": "n"}));
        assert_eq!((response.status, code(&response)), (503, "UNAVAILABLE".to_owned()));
        assert_eq!(h.root("GET", "/v1/projects/acme/keys", Value::Null).status, 503);
    })
}

#[test]
fn the_openapi_document_lists_exactly_the_routes_served() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let response = h.send(Request::new("GET", "/openapi.json"));
        assert_eq!(response.status, 200);
        let document = response.json_body();
        assert_eq!(document["openapi"], "3.1.0");
        let paths = document["paths"].as_object().unwrap();
        let mut documented: Vec<(String, String)> = paths
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| *k != "parameters")
                    .map(move |m| (path.clone(), m.to_uppercase()))
            })
            .collect();
        let mut served: Vec<(String, String)> = keygate::app::routes::ROUTE_TABLE
            .iter()
            .flat_map(|spec| spec.methods.iter().map(move |m| (spec.template.to_string(), m.to_string())))
            .collect();
        documented.sort();
        served.sort();
        assert_eq!(documented, served);
    })
}

#[test]
fn the_openapi_document_lists_every_error_code() {
    use keygate::error::Error;
    let document: Value = serde_json::from_str(keygate::app::OPENAPI_JSON).unwrap();
    let mut documented: Vec<&str> = document["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let mut codes: Vec<&str> = Error::examples().iter().map(Error::code).collect();
    documented.sort();
    codes.sort();
    codes.dedup();
    assert_eq!(documented, codes);
}

#[test]
fn the_served_document_names_this_deployments_plans_and_webhook_sources() {
    let config = config(&[
        ("ADMIN_TOKEN", ADMIN_TOKEN),
        ("PLANS", r#"{"free":{"per_minute":10,"per_day":100},"gold":{"per_minute":600,"per_day":100000}}"#),
        ("DEFAULT_PLAN", "free"),
        ("WEBHOOKS", r#"{"github":{"scheme":"github"},"chat":{"scheme":"hmac-sha256"}}"#),
        ("WEBHOOK_SECRET_GITHUB", "github secret"),
        ("WEBHOOK_SECRET_CHAT", "chat secret"),
    ]);
    let harness = Harness::with_config(config);
    harness.with_limiter(|h| {
        let document = h.send(Request::new("GET", "/openapi.json")).json_body();
        assert_eq!(document["components"]["schemas"]["PlanName"]["enum"], json!(["free", "gold"]));
        assert_eq!(document["components"]["parameters"]["WebhookSource"]["schema"]["enum"], json!(["chat", "github"]));
        // Everything else is the document as written.
        let mut written: Value = serde_json::from_str(keygate::app::OPENAPI_JSON).unwrap();
        written["components"]["schemas"]["PlanName"]["enum"] = json!(["free", "gold"]);
        written["components"]["parameters"]["WebhookSource"]["schema"]["enum"] = json!(["chat", "github"]);
        assert_eq!(document, written);
    });
    // Without WEBHOOKS the sources stay a pattern: an empty enum would admit nothing.
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let document = h.send(Request::new("GET", "/openapi.json")).json_body();
        assert_eq!(document["components"]["schemas"]["PlanName"]["enum"], json!(["professional", "standard"]));
        assert!(document["components"]["parameters"]["WebhookSource"]["schema"].get("enum").is_none());
    })
}

/// The error codes each operation documents, from its responses (followed through `$ref`).
fn documented_codes(document: &Value, answer: &Value) -> Vec<String> {
    let answer = match answer["$ref"].as_str() {
        Some(pointer) => document.pointer(pointer.trim_start_matches('#')).unwrap(),
        None => answer,
    };
    let schema = &answer["content"]["application/json"]["schema"];
    schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
        .as_array()
        .map(|codes| codes.iter().map(|code| code.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn every_error_code_is_documented_by_an_operation_at_its_status() {
    use keygate::error::Error;
    let document: Value = serde_json::from_str(keygate::app::OPENAPI_JSON).unwrap();
    let mut documented = std::collections::BTreeSet::new();
    for item in document["paths"].as_object().unwrap().values() {
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            for (status, answer) in operation["responses"].as_object().unwrap() {
                for code in documented_codes(&document, answer) {
                    let error = Error::examples().into_iter().find(|error| error.code() == code);
                    let error = error.unwrap_or_else(|| panic!("{method} {status}: no error has the code {code}"));
                    assert_eq!(error.status().to_string(), *status, "{code} is documented under {status}");
                    documented.insert(code);
                }
            }
        }
    }
    // Two codes belong to no operation: any path's other methods, and the gateway's method override.
    let description = document["info"]["description"].as_str().unwrap();
    assert!(description.contains("405 METHOD_NOT_ALLOWED"));
    assert!(document["x-keygate-gateway"]["errors"]["400"].as_str().unwrap().contains("METHOD_OVERRIDE_REFUSED"));
    for error in Error::examples() {
        if !["METHOD_NOT_ALLOWED", "METHOD_OVERRIDE_REFUSED"].contains(&error.code()) {
            assert!(documented.contains(error.code()), "no operation documents {}", error.code());
        }
    }
}

#[test]
fn every_admin_operation_names_the_scope_its_access_needs() {
    let document: Value = serde_json::from_str(keygate::app::OPENAPI_JSON).unwrap();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(security) = operation["security"].as_array().filter(|s| !s.is_empty()) else { continue };
            let roles: Vec<&Value> = security.iter().flat_map(|s| s.as_object().unwrap().values()).collect();
            let admin_only = [
                "/v1/projects",
                "/v1/projects/{project}/events",
                "/v1/projects/{project}/events/{id}/retry",
                "/v1/projects/{project}/owners/{owner_id}",
                "/v1/projects/{project}/keys/{id}/reveal",
            ];
            let wanted = if admin_only.contains(&path.as_str()) {
                "admin_token"
            } else if method == "get" {
                "keys:read"
            } else {
                "keys:write"
            };
            assert!(roles.iter().all(|r| *r == &json!([wanted])), "{method} {path}: {roles:?}, not {wanted}");
        }
    }
}
