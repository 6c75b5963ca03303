//! keygate's own routes. Everything else is not found (deny by default).
//!
//! Guarantee: [`ROUTE_TABLE`] is the one list of routes and methods; the
//! router, the `Allow` header and the OpenAPI document are checked against it.

/// Every route keygate serves itself: path template and the methods it takes.
pub const ROUTE_TABLE: &[(&str, &[&str])] = &[
    ("/healthz", &["GET", "HEAD"]),
    ("/openapi.json", &["GET"]),
    ("/v1/keys/verify", &["POST"]),
    ("/v1/projects/{project}/keys", &["GET", "POST"]),
    ("/v1/projects/{project}/keys/{id}", &["GET", "PATCH", "DELETE"]),
    ("/v1/projects/{project}/keys/{id}/rotate", &["POST"]),
    ("/v1/projects/{project}/keys/{id}/usage", &["GET"]),
    ("/webhooks/{source}", &["POST"]),
];

/// A matched route with its path parameters (still percent-encoded; callers validate them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'p> {
    Health,
    OpenApi,
    Verify,
    Keys { project: &'p str },
    Key { project: &'p str, id: &'p str },
    Rotate { project: &'p str, id: &'p str },
    Usage { project: &'p str, id: &'p str },
    Webhook { source: &'p str },
}

impl<'p> Route<'p> {
    pub fn parse(path: &'p str) -> Option<Route<'p>> {
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        Some(match segments.as_slice() {
            ["healthz"] => Route::Health,
            ["openapi.json"] => Route::OpenApi,
            ["v1", "keys", "verify"] => Route::Verify,
            ["v1", "projects", project, "keys"] => Route::Keys { project },
            ["v1", "projects", project, "keys", id] => Route::Key { project, id },
            ["v1", "projects", project, "keys", id, "rotate"] => Route::Rotate { project, id },
            ["v1", "projects", project, "keys", id, "usage"] => Route::Usage { project, id },
            ["webhooks", source] => Route::Webhook { source },
            _ => return None,
        })
    }

    /// Whether `path` lies in keygate's own namespace, so the gateway never forwards it
    /// even when no route of ours matches (e.g. `/v1/projects/p/keys/x/y`).
    pub fn is_reserved(path: &str) -> bool {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        matches!(
            segments.as_slice(),
            ["healthz", ..]
                | ["openapi.json", ..]
                | ["webhooks", ..]
                | ["v1", "keys", ..]
                | ["v1", "projects", _, "keys", ..]
        )
    }

    pub fn template(&self) -> &'static str {
        let index = match self {
            Route::Health => 0,
            Route::OpenApi => 1,
            Route::Verify => 2,
            Route::Keys { .. } => 3,
            Route::Key { .. } => 4,
            Route::Rotate { .. } => 5,
            Route::Usage { .. } => 6,
            Route::Webhook { .. } => 7,
        };
        ROUTE_TABLE[index].0
    }

    /// Whether answers of `template`'s route may hold secrets or key state, so
    /// no cache may keep them (`Cache-Control: no-store`): verify and admin.
    pub fn is_private_template(template: &str) -> bool {
        template == "/v1/keys/verify" || template.starts_with("/v1/projects/{project}/keys")
    }

    pub fn methods(&self) -> &'static [&'static str] {
        let template = self.template();
        ROUTE_TABLE.iter().find(|(t, _)| *t == template).map_or(&[], |(_, methods)| methods)
    }
}

#[cfg(test)]
mod tests {
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
            ("/v1/projects/acme/keys/", Some(Route::Key { project: "acme", id: "" })),
            ("/webhooks/github", Some(Route::Webhook { source: "github" })),
            ("/webhooks/", Some(Route::Webhook { source: "" })),
            ("/webhooks/a/b", None),
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
        for path in
            ["/healthz/x", "/webhooks/a/b", "/v1/keys/other", "/v1/projects/p/keys/k/extra", "/v1/projects/p/keys"]
        {
            assert!(Route::is_reserved(path), "{path}");
        }
        for path in ["/v1/projects/p/bots", "/v1/projects/p/keysmith", "/v2/keys", "/"] {
            assert!(!Route::is_reserved(path), "{path}");
        }
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
            Route::Usage { project: "p", id: "i" },
            Route::Webhook { source: "s" },
        ];
        for route in routes {
            let concrete = route.template().replace("{project}", "p").replace("{id}", "i").replace("{source}", "s");
            assert_eq!(Route::parse(&concrete), Some(route));
            assert!(!route.methods().is_empty());
        }
        assert_eq!(routes.len(), ROUTE_TABLE.len());
    }
}
