//! The OpenAPI document against what is served: the routes, every error code
//! at its status, the scope each admin operation needs, this deployment's names.

mod support;

use keygate::app::http::Request;
use keygate::error::Error;
use serde_json::{json, Value};
use support::*;

/// The document as written in openapi.json, before the deployment names its plans and sources.
fn written_document() -> Value {
    serde_json::from_str(keygate::app::OPENAPI_JSON).unwrap()
}

/// Every operation of `document`: its path, its method (lower case) and the operation.
fn operations(document: &Value) -> impl Iterator<Item = (&str, &str, &Value)> {
    document["paths"].as_object().unwrap().iter().flat_map(|(path, item)| {
        let methods = item.as_object().unwrap().iter().filter(|(method, _)| *method != "parameters");
        methods.map(move |(method, operation)| (path.as_str(), method.as_str(), operation))
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
        let mut documented: Vec<(String, String)> =
            operations(&document).map(|(path, method, _)| (path.to_owned(), method.to_uppercase())).collect();
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
    let document = written_document();
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
        let mut written = written_document();
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
    let document = written_document();
    let mut documented = std::collections::BTreeSet::new();
    for (_, method, operation) in operations(&document) {
        for (status, answer) in operation["responses"].as_object().unwrap() {
            for code in documented_codes(&document, answer) {
                let error = Error::examples().into_iter().find(|error| error.code() == code);
                let error = error.unwrap_or_else(|| panic!("{method} {status}: no error has the code {code}"));
                assert_eq!(error.status().to_string(), *status, "{code} is documented under {status}");
                documented.insert(code);
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
    let document = written_document();
    for (path, method, operation) in operations(&document) {
        let Some(security) = operation["security"].as_array().filter(|s| !s.is_empty()) else { continue };
        let roles: Vec<&Value> = security.iter().flat_map(|s| s.as_object().unwrap().values()).collect();
        let admin_only = [
            "/v1/projects",
            "/v1/projects/{project}/events",
            "/v1/projects/{project}/events/{id}/retry",
            "/v1/projects/{project}/owners/{owner_id}",
            "/v1/projects/{project}/keys/{id}/reveal",
        ];
        let wanted = if admin_only.contains(&path) {
            "admin_token"
        } else if method == "get" {
            "keys:read"
        } else {
            "keys:write"
        };
        assert!(roles.iter().all(|r| *r == &json!([wanted])), "{method} {path}: {roles:?}, not {wanted}");
    }
}
