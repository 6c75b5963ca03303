//! Gateway route rules (`ROUTES`): parse once, match each request.
//!
//! A rule is `{"method": "GET"|…|"*", "path": "/v1/projects/{project}/{resource}/*",
//! "scope": "{resource}:{action}", "cost": n}` (`cost`, optional: the credits an
//! admitted request spends, 1 by default). `{name}` matches one non-empty segment, a
//! trailing `*` zero or more; the first matching rule wins. Literal segments
//! match in any letter case and an exact rule also matches its path with a
//! trailing `/`, as many origins (Express, ASP.NET) route, so no spelling of
//! a path skips the rule the origin will apply.
//!
//! Guarantees: deny by default: a request whose scope template does not yield
//! a valid scope matches nothing. Paths arrive canonical ([`crate::path`]), so
//! a rule sees what the origin will see.

use serde::Deserialize;

use crate::scope::Scope;

/// The rule used when `ROUTES` is unset.
pub const DEFAULT_ROUTES: &str =
    r#"[{"method":"*","path":"/v1/projects/{project}/{resource}/*","scope":"{resource}:{action}"}]"#;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// One parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Upper-case method, or `None` for `*`.
    method: Option<String>,
    pattern: String,
    segments: Vec<Segment>,
    trailing_wildcard: bool,
    scope: String,
    cost: Option<u64>,
}

/// A request matched to a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<'r> {
    /// The rule's path pattern, for logs.
    pub pattern: &'r str,
    /// The `{project}` parameter, when the pattern has one.
    pub project: Option<String>,
    pub scope: Scope,
    /// The rule's `cost`, if it has one.
    pub cost: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    method: String,
    path: String,
    scope: String,
    #[serde(default)]
    cost: Option<u64>,
}

/// The methods rules name, and the only ones the gateway forwards.
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Parses `ROUTES` (a JSON list); the message of an error names the rule.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, String> {
    let raw: Vec<RawRule> = serde_json::from_str(text).map_err(|e| {
        format!("must be a JSON list of {{method, path, scope, cost (optional, an integer from 0)}} ({e})")
    })?;
    if raw.is_empty() {
        return Err("must have at least one rule".into());
    }
    raw.into_iter().enumerate().map(|(i, rule)| parse_rule(rule).map_err(|e| format!("rule {i}: {e}"))).collect()
}

fn parse_rule(raw: RawRule) -> Result<Rule, String> {
    let method = match raw.method.as_str() {
        "*" => None,
        m if METHODS.contains(&m) => Some(m.to_owned()),
        other => return Err(format!("method `{other}` is not one of {} or *", METHODS.join(", "))),
    };
    let body = raw.path.strip_prefix('/').ok_or("a path starts with /")?;
    let mut parts: Vec<&str> = if body.is_empty() { Vec::new() } else { body.split('/').collect() };
    let trailing_wildcard = parts.last() == Some(&"*");
    if trailing_wildcard {
        parts.pop();
    }
    let mut segments = Vec::new();
    for part in parts {
        let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if is_param_name(name) => Segment::Param(name.to_owned()),
            Some(_) => return Err(format!("`{part}` is not a parameter name ([a-z_]+)")),
            None if part.is_empty() || part.contains(['{', '}', '*']) || part == "." || part == ".." => {
                return Err(format!("`{part}` is not a literal segment (and * may only end a path)"))
            }
            None => Segment::Literal(part.to_owned()),
        };
        segments.push(segment);
    }
    let params: Vec<&str> =
        segments.iter().filter_map(|s| if let Segment::Param(n) = s { Some(n.as_str()) } else { None }).collect();
    for (i, name) in params.iter().enumerate() {
        if params[..i].contains(name) {
            return Err(format!("parameter `{name}` appears twice"));
        }
    }
    check_template(&raw.scope, &params)?;
    Ok(Rule { method, pattern: raw.path, segments, trailing_wildcard, scope: raw.scope, cost: raw.cost })
}

fn is_param_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// A scope template is a scope once its `{placeholders}` are filled with names.
fn check_template(template: &str, params: &[&str]) -> Result<(), String> {
    let mut filled = template.to_owned();
    for (start, end) in placeholders(template) {
        let name = &template[start + 1..end - 1];
        if name != "action" && !params.contains(&name) {
            return Err(format!("scope uses `{{{name}}}`, which the path does not capture"));
        }
        filled = filled.replace(&template[start..end], "x");
    }
    Scope::parse(&filled).map(|_| ()).map_err(|e| format!("scope `{template}`: {e}"))
}

/// Byte ranges of `{name}` in a template.
fn placeholders(template: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = template[from..].find('{').map(|i| from + i) {
        let Some(close) = template[open..].find('}').map(|i| open + i + 1) else { break };
        found.push((open, close));
        from = close;
    }
    found
}

/// `read` for GET/HEAD, `write` for POST/PUT/PATCH, `delete` for DELETE.
pub fn action_of(method: &str) -> Option<&'static str> {
    match method {
        "GET" | "HEAD" => Some("read"),
        "POST" | "PUT" | "PATCH" => Some("write"),
        "DELETE" => Some("delete"),
        _ => None,
    }
}

/// The first rule matching `method` and `path` (as [`crate::path::canonical`]
/// returns it), with its scope filled in.
pub fn find<'r>(rules: &'r [Rule], method: &str, path: &str) -> Option<Match<'r>> {
    // A single trailing slash is kept as an empty last segment.
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    rules.iter().find_map(|rule| rule.matches(method, &segments))
}

impl Rule {
    fn matches<'r>(&'r self, method: &str, path: &[&str]) -> Option<Match<'r>> {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return None;
        }
        let fixed = self.segments.len();
        // Origins commonly serve `/a/` as `/a`: an exact rule covers both.
        let trailing_slash = path.len() == fixed + 1 && path.last() == Some(&"");
        if path.len() < fixed || (!self.trailing_wildcard && path.len() != fixed && !trailing_slash) {
            return None;
        }
        let mut params: Vec<(&str, &str)> = Vec::new();
        for (segment, value) in self.segments.iter().zip(path) {
            match segment {
                // Origins commonly route case-insensitively: so do rules.
                Segment::Literal(literal) if literal.eq_ignore_ascii_case(value) => {}
                Segment::Param(name) if !value.is_empty() => params.push((name, value)),
                _ => return None,
            }
        }
        let mut scope = self.scope.clone();
        for (start, end) in placeholders(&self.scope).into_iter().rev() {
            let name = &self.scope[start + 1..end - 1];
            let value = if name == "action" {
                action_of(method)?
            } else {
                params.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)?
            };
            scope.replace_range(start..end, value);
        }
        let scope = Scope::parse(&scope).ok()?;
        let project = params.iter().find(|(n, _)| *n == "project").map(|(_, v)| (*v).to_owned());
        Some(Match { pattern: &self.pattern, project, scope, cost: self.cost })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<Rule> {
        parse_rules(json).unwrap()
    }

    fn scope_of(rules: &[Rule], method: &str, path: &str) -> Option<String> {
        find(rules, method, path).map(|m| m.scope.to_string())
    }

    #[test]
    fn the_default_rule_maps_resource_and_method_to_a_scope() {
        let rules = rules(DEFAULT_ROUTES);
        let cases = [
            ("GET", "/v1/projects/123/conversations", Some("conversations:read")),
            ("HEAD", "/v1/projects/123/conversations/9", Some("conversations:read")),
            ("POST", "/v1/projects/123/conversations", Some("conversations:write")),
            ("PUT", "/v1/projects/123/bots/1/config", Some("bots:write")),
            ("PATCH", "/v1/projects/123/bots/1", Some("bots:write")),
            ("DELETE", "/v1/projects/123/bots/1", Some("bots:delete")),
            ("OPTIONS", "/v1/projects/123/bots", None),
            ("GET", "/v1/projects/123/conversations/", Some("conversations:read")),
            ("GET", "/v1/projects/123", None),
            ("GET", "/v1/projects/123/", None),
            ("GET", "/v2/projects/123/bots", None),
            ("GET", "/", None),
            ("GET", "/v1/projects/123/Bots", None),
            ("GET", "/v1/projects/123/bots%2Fx", None),
        ];
        for (method, path, expected) in cases {
            assert_eq!(scope_of(&rules, method, path).as_deref(), expected, "{method} {path}");
        }
        assert_eq!(find(&rules, "GET", "/v1/projects/123/bots").unwrap().project.as_deref(), Some("123"));
        assert_eq!(
            find(&rules, "GET", "/v1/projects/123/bots").unwrap().pattern,
            "/v1/projects/{project}/{resource}/*"
        );
    }

    #[test]
    fn encoded_characters_inside_a_segment_pass_through_as_they_are() {
        let rules = rules(DEFAULT_ROUTES);
        assert_eq!(find(&rules, "GET", "/v1/projects/a%20b/bots").unwrap().project.as_deref(), Some("a%20b"));
        assert_eq!(find(&rules, "GET", "v1/projects/123/bots"), None);
    }

    #[test]
    fn the_first_matching_rule_wins_and_methods_filter() {
        let rules = rules(
            r#"[{"method":"GET","path":"/health","scope":"status:read"},
                {"method":"POST","path":"/v1/{project}/admin/*","scope":"admin"},
                {"method":"*","path":"/v1/{project}/{resource}","scope":"{resource}:{action}"},
                {"method":"*","path":"/*","scope":"everything:{action}"}]"#,
        );
        assert_eq!(scope_of(&rules, "GET", "/health").as_deref(), Some("status:read"));
        assert_eq!(scope_of(&rules, "POST", "/health").as_deref(), Some("everything:write"));
        assert_eq!(scope_of(&rules, "POST", "/v1/p/admin/x/y").as_deref(), Some("admin"));
        assert_eq!(scope_of(&rules, "POST", "/v1/p/admin").as_deref(), Some("admin"), "a trailing * matches zero");
        assert_eq!(scope_of(&rules, "GET", "/v1/p/admin").as_deref(), Some("admin:read"));
        assert_eq!(scope_of(&rules, "DELETE", "/").as_deref(), Some("everything:delete"));
        assert_eq!(find(&rules, "GET", "/v1/p/bots").unwrap().project.as_deref(), Some("p"));
        assert_eq!(find(&rules, "GET", "/health").unwrap().project, None);
    }

    #[test]
    fn no_spelling_of_a_path_skips_the_rule_an_origin_would_apply() {
        let rules = rules(
            r#"[{"method":"*","path":"/admin","scope":"admin"},
                {"method":"*","path":"/*","scope":"api:{action}"}]"#,
        );
        for path in ["/admin", "/ADMIN", "/Admin", "/admin/", "/aDmIn/"] {
            assert_eq!(scope_of(&rules, "POST", path).as_deref(), Some("admin"), "{path}");
        }
        assert_eq!(scope_of(&rules, "POST", "/admin/x").as_deref(), Some("api:write"));
        assert_eq!(scope_of(&rules, "POST", "/admin//").as_deref(), Some("api:write"), "one trailing slash only");
    }

    #[test]
    fn invalid_rules_are_refused_with_their_index() {
        for (json, needle) in [
            ("not json", "JSON"),
            ("[]", "at least one"),
            (r#"[{"method":"FETCH","path":"/x","scope":"a:b"}]"#, "rule 0: method"),
            (r#"[{"method":"GET","path":"x","scope":"a:b"}]"#, "starts with /"),
            (r#"[{"method":"GET","path":"/a/*/b","scope":"a:b"}]"#, "literal"),
            (r#"[{"method":"GET","path":"/{Bad}","scope":"a:b"}]"#, "parameter"),
            (r#"[{"method":"GET","path":"/{a}/{a}","scope":"a:b"}]"#, "twice"),
            (r#"[{"method":"GET","path":"/x","scope":"{resource}:read"}]"#, "does not capture"),
            (r#"[{"method":"GET","path":"/x","scope":"Bad"}]"#, "scope"),
            (r#"[{"method":"GET","path":"/x","scope":"a:b","extra":1}]"#, "unknown field"),
            (r#"[{"method":"GET","path":"/x","scope":"a:b"},{"method":"GET","path":"/y//z","scope":"a:b"}]"#, "rule 1"),
        ] {
            let error = parse_rules(json).unwrap_err();
            assert!(error.contains(needle), "{json}: {error}");
        }
    }

    #[test]
    fn a_scope_template_that_yields_no_scope_matches_nothing() {
        let rules = rules(r#"[{"method":"*","path":"/{resource}/*","scope":"{resource}:{action}"}]"#);
        assert_eq!(scope_of(&rules, "GET", "/bots"), Some("bots:read".into()));
        assert_eq!(scope_of(&rules, "GET", "/9bots"), None);
        assert_eq!(scope_of(&rules, "GET", &format!("/{}", "a".repeat(40))), None);
    }
}

#[cfg(test)]
mod cost_tests {
    use super::*;

    #[test]
    fn a_rule_may_name_the_cost_of_its_requests() {
        let rules = parse_rules(
            r#"[{"method":"GET","path":"/reports/*","scope":"reports:read","cost":5},{"method":"*","path":"/{resource}/*","scope":"{resource}:{action}"}]"#,
        )
        .unwrap();
        assert_eq!(find(&rules, "GET", "/reports/monthly").unwrap().cost, Some(5));
        assert_eq!(find(&rules, "GET", "/bots/1").unwrap().cost, None, "the default: 1");
        for bad in [r#"-1"#, r#"1.5"#, r#""5""#] {
            let text = format!(r#"[{{"method":"GET","path":"/r","scope":"r:read","cost":{bad}}}]"#);
            assert!(parse_rules(&text).is_err(), "{bad}");
        }
    }
}
