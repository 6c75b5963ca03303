//! The gateway through the app: matching, authorization, forwarding, identity headers, logs.

mod support;

use keygate::app::http::{Body, Request, Response};
use keygate::app::LogLine;
use keygate::testing::MemoryLimiter;
use keygate::testing::Sent;
use serde_json::json;
use support::*;

fn gateway_config(origin: &str) -> keygate::config::Config {
    config(&[("KEY_HEADERS", "X-API-Key, X-TLM-Key"), ("ADMIN_TOKEN", ADMIN_TOKEN), ("ORIGIN", origin)])
}

fn only_forward(harness: &Harness) -> Sent {
    let received = harness.origin.received();
    assert_eq!(received.len(), 1, "{received:?}");
    received.into_iter().next().unwrap()
}

fn header<'a>(outgoing: &'a Sent, name: &str) -> Vec<&'a str> {
    outgoing.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
}

#[test]
fn a_verified_request_reaches_the_origin_with_identity_and_without_the_credential() {
    let harness = Harness::with_config(gateway_config("https://origin.example/base/"));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["conversations:read", "bots:*"], |r| {
            r.project = keygate::ids::ProjectId::parse("123").unwrap()
        });
        harness.origin.answer_with(Response {
            status: 201,
            headers: vec![("x-origin-header".into(), "kept".into()), ("x-ratelimit-limit".into(), "origin's".into())],
            body: Body::Stream(keygate::app::http::Stream::new(())),
        });
        let request = Request::new("GET", "/v1/projects/123/conversations?page=2&q=a%20b")
            .with_header("Authorization", &format!("Bearer {key}"))
            .with_header("X-Keygate-Key-Id", "key_forged")
            .with_header("X-Keygate-Scopes", "admin")
            .with_header("Accept", "application/json");
        let answer = h.send(request);
        assert_eq!(answer.status, 201);
        assert_eq!(answer.header("x-origin-header"), Some("kept"));
        assert_eq!(answer.header("x-ratelimit-limit"), Some("100"), "ours replace the origin's");
        assert!(answer.header("ratelimit").is_some());

        let forwarded = only_forward(&harness);
        assert_eq!(forwarded.method, "GET");
        assert_eq!(forwarded.url, "https://origin.example/base/v1/projects/123/conversations?page=2&q=a%20b");
        assert!(header(&forwarded, "authorization").is_empty());
        let record = harness.store.dump().into_iter().find(|(n, _, _)| n.starts_with("k:")).unwrap();
        let record: serde_json::Value = serde_json::from_str(&record.1).unwrap();
        assert_eq!(header(&forwarded, "x-keygate-key-id"), vec![record["id"].as_str().unwrap()]);
        assert_eq!(header(&forwarded, "x-keygate-project"), vec!["123"]);
        assert_eq!(header(&forwarded, "x-keygate-scopes"), vec!["conversations:read bots:*"]);
        assert_eq!(header(&forwarded, "accept"), vec!["application/json"]);
        assert!(matches!(forwarded.body, Body::Stream(_)), "the body streams through unread");
        assert!(forwarded.headers.iter().all(|(_, v)| !v.contains(&key)), "the key never reaches the origin");
    })
}

#[test]
fn a_post_with_a_key_header_is_forwarded_without_that_header() {
    let harness = Harness::with_config(gateway_config("https://origin.example"));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["bots:write"], |r| r.project = keygate::ids::ProjectId::parse("123").unwrap());
        let request =
            Request::new("POST", "/v1/projects/123/bots").with_header("X-TLM-Key", &key).with_body("{\"name\":\"x\"}");
        assert_eq!(h.send(request).status, 200);
        let forwarded = only_forward(&harness);
        assert_eq!(
            (forwarded.method.as_str(), forwarded.url.as_str()),
            ("POST", "https://origin.example/v1/projects/123/bots")
        );
        assert!(header(&forwarded, "x-tlm-key").is_empty());
    })
}

#[test]
fn refusals_never_reach_the_origin() {
    let harness = Harness::with_config(gateway_config("https://origin.example"));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["bots:read"], |r| r.project = keygate::ids::ProjectId::parse("123").unwrap());
        let call = |method: &str, path: &str| {
            h.send(Request::new(method, path).with_header("Authorization", &format!("Bearer {key}")))
        };
        let other_project = call("GET", "/v1/projects/456/bots");
        assert_eq!((other_project.status, code(&other_project)), (403, "PROJECT_MISMATCH".to_owned()));
        let no_scope = call("DELETE", "/v1/projects/123/bots/7");
        assert_eq!(
            (no_scope.status, no_scope.json_body()["error"]["required_scope"].clone()),
            (403, json!("bots:delete"))
        );
        assert!(no_scope.header("x-ratelimit-remaining").is_some(), "an authenticated refusal still has limits");
        for path in ["/unknown", "/v1/projects/123", "/v1/projects/123/keys/key_x/extra"] {
            assert_eq!(call("GET", path).status, 404, "{path}");
        }
        let anonymous = h.send(Request::new("GET", "/v1/projects/123/bots"));
        assert_eq!((anonymous.status, code(&anonymous)), (401, "MISSING_API_KEY".to_owned()));
        assert!(harness.origin.received().is_empty());
    })
}

#[test]
fn an_unreachable_origin_is_502() {
    let harness = Harness::with_config(gateway_config("https://origin.example"));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["bots:read"], |r| r.project = keygate::ids::ProjectId::parse("123").unwrap());
        harness.origin.go_down(true);
        let answer = h.send(Request::new("GET", "/v1/projects/123/bots").with_header("X-API-Key", &key));
        assert_eq!((answer.status, code(&answer)), (502, "ORIGIN_ERROR".to_owned()));
    })
}

#[test]
fn without_an_origin_the_gateway_answers_the_identity() {
    let harness = Harness::new();
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["bots:read"], |r| r.project = keygate::ids::ProjectId::parse("123").unwrap());
        let answer = h.send(Request::new("GET", "/v1/projects/123/bots/1").with_header("X-API-Key", &key));
        assert_eq!(answer.status, 200);
        let body = answer.json_body();
        assert_eq!(
            (body["ok"].clone(), body["project"].clone(), body["scopes"].clone()),
            (json!(true), json!("123"), json!(["bots:read"]))
        );
        assert!(body["key_id"].as_str().unwrap().starts_with("key_"));
    })
}

#[test]
fn custom_routes_are_matched_first_to_last() {
    let routes = r#"[{"method":"GET","path":"/status","scope":"status:read"},
                     {"method":"*","path":"/api/{resource}/*","scope":"{resource}:{action}"}]"#;
    let harness = Harness::with_config(config(&[("ROUTES", routes)]));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["status:read", "orders:write"], |_| {});
        let call = |method: &str, path: &str| h.send(Request::new(method, path).with_header("X-API-Key", &key)).status;
        assert_eq!(call("GET", "/status"), 200);
        assert_eq!(call("POST", "/api/orders/1"), 200);
        assert_eq!(call("GET", "/api/orders"), 200, "write implies read");
        assert_eq!(call("DELETE", "/api/orders/1"), 403);
        assert_eq!(call("POST", "/status"), 404);
        assert_eq!(call("GET", "/v1/projects/123/bots"), 404, "the default rule is replaced");
    })
}

#[test]
fn every_request_has_one_log_line_without_secrets() {
    let harness = Harness::new();
    let key = seed(&harness.store, &["bots:read"], |r| r.project = keygate::ids::ProjectId::parse("123").unwrap());
    let limiter = MemoryLimiter::new(&harness.clock);
    let app = app(&harness.config, &harness.store, &limiter, &harness.origin, &harness.clock);
    let log = |request: Request| -> LogLine { futures_executor::block_on(app.handle_logged(&request)).1 };
    let allowed =
        log(Request::new("GET", "/v1/projects/123/bots").with_header("Authorization", &format!("Bearer {key}")));
    assert_eq!(allowed.method, "GET");
    assert_eq!(allowed.route, "/v1/projects/{project}/{resource}/*");
    assert_eq!(allowed.project.as_deref(), Some("123"));
    assert!(allowed.key_id.as_deref().unwrap().starts_with("key_"));
    assert_eq!((allowed.decision, allowed.code, allowed.status), ("allow", None, 200));
    let denied = log(Request::new("DELETE", "/v1/projects/123/bots/1").with_header("X-API-Key", &key));
    assert_eq!((denied.decision, denied.code, denied.status), ("deny", Some("INSUFFICIENT_PERMISSIONS"), 403));
    let admin = log(Request::new("GET", "/v1/projects/123/keys"));
    assert_eq!((admin.route.as_str(), admin.code), ("/v1/projects/{project}/keys", Some("MISSING_API_KEY")));
    let serialized = serde_json::to_string(&allowed).unwrap();
    assert!(!serialized.contains(&key[8..]));
    assert!(serialized.contains("\"duration_ms\":0"));
    assert!(!serialized.contains("detail"), "only failures carry a detail");

    // A failure's cause goes to the log line, never to the answer.
    harness.store.fail(true);
    let request = || Request::new("GET", "/v1/projects/123/bots").with_header("X-API-Key", &key);
    let failed = log(request());
    assert_eq!((failed.decision, failed.code, failed.status), ("error", Some("UNAVAILABLE"), 503));
    assert_eq!(failed.detail.as_deref(), Some("memory store set to fail"));
    let answer = futures_executor::block_on(app.handle(&request()));
    assert!(!String::from_utf8_lossy(answer.body.bytes()).contains("memory store"));
}

/// The security review's requests: each reached another resource or project
/// behind the default rule's trailing `*`, through an origin that splits,
/// decodes or resolves paths differently. Refused before any storage call.
#[test]
fn paths_an_origin_could_read_differently_are_refused_before_any_credential_work() {
    let harness = Harness::with_config(gateway_config("https://origin.example"));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["bots:read"], |r| r.project = keygate::ids::ProjectId::parse("acme").unwrap());
        for path in [
            "/v1/projects/acme/bots/..;/..;/victim/billing",
            "/v1/projects/acme/bots;x=1/../../victim/billing",
            "/v1/projects/acme/bots/..%2F..%2Fvictim%2Fbilling",
            "/v1/projects/acme/bots/..%2f..%2fvictim",
            "/v1/projects/acme/bots/..%5C..%5Cvictim",
            "/v1/projects/acme/bots/..\\..\\victim",
            "/v1/projects/acme/bots/%252e%252e/%252e%252e/victim",
            "/v1/projects/acme/bots/%2e%2e/%2E%2E/victim",
            "/v1/projects/acme/bots/.%2e/x",
            "/v1/projects/acme/bots/../../victim/billing",
            "/v1/projects/acme/bots/%00",
            "/v1/projects/acme/bots/%c0%ae%c0%ae/victim",
            "/v1/projects/acme/bots//x",
        ] {
            let answer = h.send(Request::new("GET", path).with_header("Authorization", &format!("Bearer {key}")));
            assert_eq!((answer.status, code(&answer)), (400, "INVALID_PATH".to_owned()), "{path}");
        }
        assert!(harness.origin.received().is_empty());
        assert_eq!((harness.store.reads(), h.limiter.calls()), (0, 0), "no credential work for a refused path");
    })
}

/// Matching and forwarding use one string: an encoded unreserved character is
/// decoded before the rule sees it, and forwarded decoded.
#[test]
fn the_origin_gets_the_canonical_path_that_was_matched() {
    let harness = Harness::with_config(gateway_config("https://origin.example"));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["bots:read"], |r| r.project = keygate::ids::ProjectId::parse("acme").unwrap());
        let answer =
            h.send(Request::new("GET", "/v1/projects/%61cme/b%6Fts/a%3ab?x=%2F").with_header("X-API-Key", &key));
        assert_eq!(answer.status, 200);
        assert_eq!(only_forward(&harness).url, "https://origin.example/v1/projects/acme/bots/a%3Ab?x=%2F");
        let other = h.send(Request::new("GET", "/v1/projects/acme/%75sers").with_header("X-API-Key", &key));
        assert_eq!(other.json_body()["error"]["required_scope"], "users:read", "matched decoded");
    })
}

#[test]
fn a_method_override_in_the_query_is_refused() {
    let harness = Harness::with_config(gateway_config("https://origin.example"));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["bots:read"], |r| r.project = keygate::ids::ProjectId::parse("acme").unwrap());
        for query in ["_method=DELETE", "a=1&_method=PUT", "%5Fmethod=DELETE", "_METHOD=delete", "_method"] {
            let path = format!("/v1/projects/acme/bots/1?{query}");
            let answer = h.send(Request::new("GET", &path).with_header("X-API-Key", &key));
            assert_eq!((answer.status, code(&answer)), (400, "METHOD_OVERRIDE_REFUSED".to_owned()), "{query}");
        }
        assert!(harness.origin.received().is_empty());
        assert_eq!(
            h.send(Request::new("GET", "/v1/projects/acme/bots?method=x").with_header("X-API-Key", &key)).status,
            200
        );
    })
}

/// Reproducer (attacker review): with a `"*"` rule of a fixed scope, a
/// PROPFIND passed the rules and the runtime's method mapping sent it to the
/// origin as a GET, past the GET-only rule that guarded that path.
#[test]
fn a_method_no_rule_can_name_is_refused_not_forwarded() {
    let routes = r#"[{"method":"GET","path":"/v1/exports/*","scope":"exports:read"},
                     {"method":"*","path":"/v1/*","scope":"api:use"}]"#;
    let harness = Harness::with_config(config(&[
        ("ADMIN_TOKEN", ADMIN_TOKEN),
        ("ORIGIN", "https://origin.example"),
        ("ROUTES", routes),
    ]));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["api:use"], |_| {});
        let send = |method: &str| h.send(Request::new(method, "/v1/exports/q3.csv").with_header("X-API-Key", &key));
        assert_eq!(send("GET").status, 403);
        for method in ["PROPFIND", "SEARCH", "MKCOL", "PURGE", "get"] {
            let answer = send(method);
            assert_eq!((answer.status, code(&answer)), (405, "METHOD_NOT_ALLOWED".to_owned()), "{method}");
            assert!(answer.header("allow").unwrap().contains("GET"));
        }
        assert!(harness.origin.received().is_empty());
        assert_eq!(send("POST").status, 200, "a method the rules name still goes through");
        assert_eq!(only_forward(&harness).method, "POST");
    })
}

/// Override, identity, credential and forwarding headers never reach the
/// origin in any spelling a CGI/WSGI server folds onto the same variable;
/// keygate sets the forwarding headers from what it saw.
#[test]
fn override_underscore_and_forwarding_headers_never_reach_the_origin() {
    let harness = Harness::with_config(gateway_config("https://origin.example"));
    harness.with_limiter(|h| {
        let key = seed(&harness.store, &["bots:*"], |r| r.project = keygate::ids::ProjectId::parse("acme").unwrap());
        let mut request = Request::for_url("GET", "http://api.example.com:8787/v1/projects/acme/bots")
            .with_header("Authorization", &format!("Bearer {key}"))
            .with_header("CF-Connecting-IP", "2001:db8::7")
            .with_header("Accept", "application/json");
        let hostile = [
            "X-HTTP-Method-Override",
            "X-HTTP-Method",
            "X-Method-Override",
            "X_HTTP_Method_Override",
            "x_http_method",
            "X-Original-URL",
            "X-Rewrite-URL",
            "X_Original_URL",
            "X_Keygate_Key_Id",
            "X_KEYGATE_SCOPES",
            "X_API_Key",
            "x-tlm_key",
            "X-Forwarded-For",
            "X_Forwarded_For",
            "X-Forwarded-Host",
            "X-Forwarded-Proto",
            "Forwarded",
            "X-Real-IP",
            "Proxy_Authorization",
        ];
        for name in hostile {
            request = request.with_header(name, "DELETE");
        }
        assert_eq!(h.send(request).status, 200);
        let forwarded = only_forward(&harness);
        for name in hostile {
            let folded = name.to_ascii_lowercase().replace('_', "-");
            let values: Vec<&str> = forwarded
                .headers
                .iter()
                .filter(|(n, _)| n.replace('_', "-") == folded)
                .map(|(_, v)| v.as_str())
                .collect();
            assert!(!values.contains(&"DELETE"), "{name} reached the origin: {values:?}");
        }
        assert_eq!(header(&forwarded, "x-forwarded-for"), vec!["2001:db8::7"]);
        assert_eq!(header(&forwarded, "x-forwarded-proto"), vec!["http"]);
        assert_eq!(header(&forwarded, "x-forwarded-host"), vec!["api.example.com:8787"]);
        assert_eq!(
            header(&forwarded, "forwarded"),
            vec![r#"for="[2001:db8::7]";proto=http;host="api.example.com:8787""#]
        );
        assert_eq!(header(&forwarded, "accept"), vec!["application/json"]);
    })
}

/// Reproducer (attacker review): the app's own refusals of paths meant for
/// the dashboard (a bad path, a method it does not serve) lacked its headers.
#[test]
fn refusals_of_dashboard_paths_carry_its_security_headers() {
    let harness = Harness::with_config(gateway_config("https://origin.example"));
    harness.with_limiter(|h| {
        for (method, path, status) in [("GET", "/dashboard/a;b", 400), ("POST", "/dashboard/", 404)] {
            let answer = h.send(Request::new(method, path));
            assert_eq!(answer.status, status, "{method} {path}");
            assert_eq!(answer.header("x-content-type-options"), Some("nosniff"), "{method} {path}");
            assert!(answer.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
        }
        let api = h.send(Request::new("GET", "/dashboards"));
        assert_eq!(api.header("content-security-policy"), None, "a path beside the namespace is not the dashboard's");
    })
}

/// Attacker review: the origin's own `X-Credits-Remaining` reached the client
/// beside ours, and a client's copy reached the origin.
#[test]
fn the_credits_header_is_keygates_alone_both_ways() {
    let harness = Harness::with_config(gateway_config("https://origin.example"));
    harness.with_limiter(|h| {
        let key = h.create("acme", json!({"name": "k", "scopes": ["bots:read"], "credits": {"remaining": 10}}));
        harness.origin.answer_with(Response {
            status: 200,
            headers: vec![("X-Credits-Remaining".into(), "999999".into())],
            body: Body::Stream(keygate::app::http::Stream::new(())),
        });
        let request = Request::new("GET", "/v1/projects/acme/bots/1")
            .with_header("X-API-Key", key["key"].as_str().unwrap())
            .with_header("X-Credits-Remaining", "123");
        let answer = h.send(request);
        assert_eq!(answer.status, 200);
        let forwarded = only_forward(&harness);
        let upstream: Vec<_> =
            forwarded.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("x-credits-remaining")).collect();
        let values: Vec<_> = answer
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-credits-remaining"))
            .map(|(_, v)| v.clone())
            .collect();
        assert_eq!(values, vec!["9".to_string()], "the client sees ours alone");
        assert!(upstream.is_empty(), "a client's copy reached the origin: {upstream:?}");
    });
}
