//! The dashboard under `/dashboard/`: static assets that the runtime's assets
//! binding serves. Here only the decisions: which requests it serves, and the
//! headers that every one of its answers carries.
//!
//! Guarantee: with `DASHBOARD = "off"` it serves nothing (the app answers
//! 404 `NOT_FOUND`, as for any path of a reserved namespace), and every answer
//! it gives carries [`SECURITY_HEADERS`], which replace any of the same name.

use crate::app::http::Request;
use crate::config::Config;

/// The path prefix the dashboard occupies; a keygate-reserved namespace.
pub const NAMESPACE: &str = "/dashboard";

/// Only this origin's scripts, styles, images and API; no inline script or
/// style, no framing, no plugins, no `<base>` rewrites.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The headers of every dashboard answer, lower-case names.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// Whether `path` lies in the dashboard's namespace (`/dashboard` or below it).
pub fn in_namespace(path: &str) -> bool {
    path.strip_prefix(NAMESPACE).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether a raw request path, in any spelling, is meant for the dashboard
/// (`/dashboard` then nothing, `/`, or a byte that cannot continue a name
/// such as `%` or `;`): every answer to it carries [`SECURITY_HEADERS`].
pub fn claims(raw_path: &str) -> bool {
    raw_path.strip_prefix(NAMESPACE).is_some_and(|rest| {
        rest.bytes().next().is_none_or(|next| !(next.is_ascii_alphanumeric() || b"-_.~".contains(&next)))
    })
}

/// Whether the assets binding answers this request: the dashboard is on, the
/// method reads, and the canonical path lies in the namespace. A path that is
/// not canonical is left to the app, which refuses it (400 `INVALID_PATH`).
pub fn serves(config: &Config, request: &Request) -> bool {
    config.dashboard
        && matches!(request.method.as_str(), "GET" | "HEAD")
        && request.canonical_path().is_ok_and(in_namespace)
}

/// `headers` with [`SECURITY_HEADERS`] set, replacing any of the same name.
pub fn secured(mut headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers.retain(|(name, _)| !SECURITY_HEADERS.iter().any(|(ours, _)| name.eq_ignore_ascii_case(ours)));
    headers.extend(SECURITY_HEADERS.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dashboard: &str) -> Config {
        Config::from_vars(|name| (name == "DASHBOARD").then(|| dashboard.to_owned())).unwrap()
    }

    #[test]
    fn every_spelling_meant_for_the_dashboard_is_claimed() {
        for path in
            ["/dashboard", "/dashboard/", "/dashboard/..%2f", "/dashboard%2fapp.js", "/dashboard;x", "/dashboard/a;b"]
        {
            assert!(claims(path), "{path}");
        }
        for path in ["/dashboards", "/dashboard-old", "/dashboard.json", "/v1/dashboard", "/Dashboard/"] {
            assert!(!claims(path), "{path}");
        }
    }

    #[test]
    fn reads_of_its_namespace_are_served_when_on() {
        let on = config("on");
        for path in ["/dashboard", "/dashboard/", "/dashboard/app.js", "/dashboard/%61pp.js"] {
            assert!(serves(&on, &Request::new("GET", path)), "{path}");
            assert!(serves(&on, &Request::new("HEAD", path)), "{path}");
        }
        for (method, path) in [
            ("POST", "/dashboard/"),
            ("DELETE", "/dashboard/app.js"),
            ("GET", "/dashboards"),
            ("GET", "/v1/projects"),
            ("GET", "/dashboard/../v1/projects"),
            ("GET", "/dashboard/%2e%2e/v1/projects"),
            ("GET", "/dashboard//app.js"),
            ("GET", "/Dashboard/"),
        ] {
            assert!(!serves(&on, &Request::new(method, path)), "{method} {path}");
        }
    }

    #[test]
    fn off_serves_nothing() {
        let off = config("off");
        assert!(!off.dashboard);
        for path in ["/dashboard", "/dashboard/", "/dashboard/app.js"] {
            assert!(!serves(&off, &Request::new("GET", path)), "{path}");
        }
    }

    #[test]
    fn security_headers_replace_the_assets_own() {
        let headers = secured(vec![
            ("content-type".into(), "text/html".into()),
            ("Content-Security-Policy".into(), "default-src *".into()),
            ("x-frame-options".into(), "SAMEORIGIN".into()),
        ]);
        let value = |name: &str| {
            let values: Vec<&str> =
                headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect();
            assert_eq!(values.len(), 1, "{name}: {values:?}");
            values[0]
        };
        assert_eq!(value("content-type"), "text/html");
        assert_eq!(value("x-frame-options"), "DENY");
        assert_eq!(value("referrer-policy"), "no-referrer");
        assert_eq!(value("x-content-type-options"), "nosniff");
        let csp = value("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe") && !csp.contains('*') && !csp.contains("http"), "{csp}");
    }
}
