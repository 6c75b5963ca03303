use super::*;

#[test]
fn paths_match_their_routes() {
    let cases = [
        ("/healthz", Some(Route::Health)),
        ("/openapi.json", Some(Route::OpenApi)),
        ("/v1/keys/verify", Some(Route::Verify)),
        ("/v1/projects/acme/keys", Some(Route::Keys { project: "acme" })),
        ("/v1/projects/acme/keys/key_1", Some(Route::Key { project: "acme", id: "key_1" })),
        ("/v1/projects/acme/keys/key_1/rotate", Some(Route::Rotate { project: "acme", id: "key_1" })),
        ("/v1/projects/acme/keys/key_1/usage", Some(Route::Usage { project: "acme", id: "key_1" })),
        ("/v1/projects", Some(Route::Projects)),
        ("/v1/projects/acme/audit", Some(Route::Audit { project: "acme" })),
        ("/v1/projects/acme/usage", Some(Route::ProjectUsage { project: "acme" })),
        ("/v1/projects/acme/events", Some(Route::Events { project: "acme" })),
        ("/v1/projects/acme/events/evt_1/retry", Some(Route::RetryEvent { project: "acme", id: "evt_1" })),
        ("/v1/projects/acme/events/evt_1", None),
        ("/v1/projects/acme/owners/org:42", Some(Route::Owner { project: "acme", owner_id: "org:42" })),
        ("/v1/projects/acme/owners", None),
        ("/v1/projects/acme/keys/key_1/reveal", Some(Route::Reveal { project: "acme", id: "key_1" })),
        ("/v1/secret-scanning/github", Some(Route::SecretScanning)),
        ("/v1/secret-scanning/gitlab", None),
        ("/v1/projects/acme/keys/", Some(Route::Key { project: "acme", id: "" })),
        ("/webhooks/github", Some(Route::Webhook { source: "github" })),
        ("/webhooks/", Some(Route::Webhook { source: "" })),
        ("/webhooks/a/b", None),
        ("/.well-known/jwks.json", Some(Route::Jwks)),
        ("/.well-known/openid-configuration", None),
        ("/healthz/", None),
        ("/v1/projects/acme", None),
        ("/v1/projects/acme/keys/key_1/other", None),
        ("", None),
        ("/", None),
    ];
    for (path, expected) in cases {
        assert_eq!(Route::parse(path), expected, "{path}");
    }
}

#[test]
fn keygate_namespaces_are_reserved() {
    for path in [
        "/healthz/x",
        "/webhooks/a/b",
        "/v1/keys/other",
        "/v1/projects/p/keys/k/extra",
        "/v1/projects/p/keys",
        "/v1/projects",
        "/v1/projects/p/audit/x",
        "/v1/projects/p/usage",
        "/v1/projects/p/events/evt_1",
        "/v1/secret-scanning/gitlab",
        "/v1/projects/p/owners",
        "/v1/projects/p/owners/o/x",
        // In any letter case, as gateway rules match literal segments.
        "/V1/Projects/p/KEYS/k",
        "/DASHBOARD/app.js",
        "/Webhooks/a/b",
        "/dashboard",
        "/dashboard/",
        "/dashboard/app.js",
        "/.well-known",
        "/.well-known/jwks.json/x",
        "/.well-known/security.txt",
    ] {
        assert!(Route::is_reserved(path), "{path}");
    }
    for path in ["/v1/projects/p/bots", "/v1/projects/p/keysmith", "/v2/keys", "/", "/dashboards", "/.well-knowns"] {
        assert!(!Route::is_reserved(path), "{path}");
    }
}

#[test]
fn a_path_class_names_the_route_or_the_reserved_namespace() {
    let paths =
        ["/healthz", "/v1/projects/acme/keys/key_1", "/v1/projects/p/keys/k/x", "/DASHBOARD/a.js", "/things", "/"];
    for path in paths {
        let class = PathClass::of(path);
        assert_eq!(class.route(path), Route::parse(path), "{path}");
        assert_eq!(class == PathClass::Reserved, Route::parse(path).is_none() && Route::is_reserved(path), "{path}");
    }
    assert_eq!(PathClass::of("/things"), PathClass::Gateway);
}

#[test]
fn every_route_has_its_row_in_the_table() {
    let routes = [
        Route::Health,
        Route::OpenApi,
        Route::Verify,
        Route::Keys { project: "p" },
        Route::Key { project: "p", id: "i" },
        Route::Rotate { project: "p", id: "i" },
        Route::Credits { project: "p", id: "i" },
        Route::Usage { project: "p", id: "i" },
        Route::Projects,
        Route::Audit { project: "p" },
        Route::ProjectUsage { project: "p" },
        Route::Events { project: "p" },
        Route::RetryEvent { project: "p", id: "i" },
        Route::SecretScanning,
        Route::Webhook { source: "s" },
        Route::Owner { project: "p", owner_id: "o" },
        Route::Jwks,
        Route::Reveal { project: "p", id: "i" },
    ];
    for route in routes {
        let concrete = route
            .template()
            .replace("{project}", "p")
            .replace("{id}", "i")
            .replace("{source}", "s")
            .replace("{owner_id}", "o");
        assert_eq!(Route::parse(&concrete), Some(route));
        assert!(!route.methods().is_empty());
    }
    assert_eq!(routes.len(), ROUTE_TABLE.len());
    // Each kind's row is the one that parses back to it.
    for spec in ROUTE_TABLE {
        let concrete = spec
            .template
            .replace("{project}", "p")
            .replace("{id}", "i")
            .replace("{source}", "s")
            .replace("{owner_id}", "o");
        assert_eq!(Route::parse(&concrete).map(|route| route.template()), Some(spec.template));
    }
}
