//! Deployment configuration, parsed once per isolate from vars and secrets.
//!
//! Guarantee: a [`Config`] is complete and valid; every problem found on the
//! way is reported together, each naming its variable, and none panics.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

mod assertion;
mod events;
mod scanning;
mod webhooks;

pub use assertion::AssertionConfig;
pub use events::{events_on, EventsConfig};
pub use scanning::LeakAction;
pub use webhooks::{secret_variable, WebhookSource, DEFAULT_MAX_WEBHOOK_BYTES, MAX_WEBHOOK_BYTES_CEILING};

use crate::key::{Environment, KeyPrefixes};
use crate::ratelimit::Quota;
use crate::rules::{self, Rule};
use crate::slug::{is_slug, First};
use crate::vault::Vault;

/// The shortest `ADMIN_TOKEN` accepted: anything shorter is guessable.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

#[derive(Clone)]
pub struct Config {
    pub environment: Environment,
    /// `KEY_PREFIX`: the prefix of new keys first, then older ones still accepted.
    pub key_prefixes: KeyPrefixes,
    /// Lower-cased header names that may carry a key besides `Authorization`.
    pub key_headers: Vec<String>,
    pub plans: BTreeMap<String, Quota>,
    pub default_plan: String,
    pub admin_token: Option<String>,
    /// Webhook sources by name.
    pub webhooks: BTreeMap<String, WebhookSource>,
    pub max_webhook_bytes: usize,
    /// Upstream base URL without a trailing slash; `None` answers verified requests itself.
    pub origin: Option<String>,
    /// Gateway rules, first match wins.
    pub routes: Vec<Rule>,
    /// Whether `/dashboard/` serves the dashboard (`DASHBOARD`, `on` by default).
    pub dashboard: bool,
    /// Where signed event notifications go; `None`: none are sent.
    pub events: Option<EventsConfig>,
    /// What a leak report does to a key (`LEAKED_KEY_ACTION`).
    pub leaked_key_action: LeakAction,
    /// GitHub's secret-scanning public keys (`SECRET_SCANNING_KEYS_URL`).
    pub secret_scanning_keys_url: String,
    /// The origin's signed assertion (`ASSERTION_SIGNING_KEY`, `ASSERTION_ISSUER`); `None`: none is sent.
    pub assertion: Option<AssertionConfig>,
    /// `VAULT_KEY`: seals the secrets of recoverable keys; `None`: no key is recoverable.
    pub vault: Option<Vault>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("environment", &self.environment)
            .field("key_prefixes", &self.key_prefixes)
            .field("key_headers", &self.key_headers)
            .field("plans", &self.plans)
            .field("default_plan", &self.default_plan)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "[redacted]"))
            .field("webhooks", &self.webhooks)
            .field("max_webhook_bytes", &self.max_webhook_bytes)
            .field("origin", &self.origin)
            .field("routes", &self.routes)
            .field("dashboard", &self.dashboard)
            .field("events", &self.events)
            .field("leaked_key_action", &self.leaked_key_action)
            .field("secret_scanning_keys_url", &self.secret_scanning_keys_url)
            .field("assertion", &self.assertion)
            .field("vault", &self.vault)
            .finish()
    }
}

/// Every problem found, each starting with the variable's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.join("; "))
    }
}

/// `AUDIT_RETENTION_DAYS`: how long audit events are kept, 1 to 3650 days (default 400).
pub fn audit_retention_days(text: Option<String>) -> Result<i64, String> {
    let default = crate::project::object::DEFAULT_AUDIT_RETENTION_DAYS as u64;
    whole_number(text, default, 3650, "days").map(|days| days as i64)
}

/// A variable holding a whole number from 1 to `max` `unit`, or `default` when unset.
fn whole_number(text: Option<String>, default: u64, max: u64, unit: &str) -> Result<u64, String> {
    match text {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| format!("must be a whole number of {unit} from 1 to {max}")),
    }
}

const DEFAULT_PLANS: &str =
    r#"{"standard":{"per_minute":100,"per_day":10000},"professional":{"per_minute":300,"per_day":50000}}"#;

impl Config {
    /// Reads each variable through `var` (a JSON variable arrives as JSON text).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut problems = Problems::default();
        let environment = problems.check(
            "ENVIRONMENT",
            match var("ENVIRONMENT") {
                None => Ok(Environment::Live),
                Some(text) => Environment::parse(text.trim()).ok_or_else(|| "must be `live` or `test`".to_owned()),
            },
        );
        let key_prefixes = problems.check(
            "KEY_PREFIX",
            var("KEY_PREFIX").map_or_else(|| Ok(KeyPrefixes::default()), |text| KeyPrefixes::parse(&text)),
        );
        let key_headers = problems.check("KEY_HEADERS", parse_key_headers(var("KEY_HEADERS").as_deref()));
        let plans = problems.check("PLANS", parse_plans(var("PLANS").as_deref().unwrap_or(DEFAULT_PLANS)));
        let default_plan = var("DEFAULT_PLAN").map_or_else(|| "standard".to_owned(), |p| p.trim().to_owned());
        if let Some(plans) = &plans {
            if !plans.contains_key(&default_plan) {
                let known = plans.keys().cloned().collect::<Vec<_>>().join(", ");
                problems.check("DEFAULT_PLAN", Err::<(), _>(format!("`{default_plan}` is not in PLANS ({known})")));
            }
        }
        let admin_token = problems.check("ADMIN_TOKEN", parse_admin_token(var("ADMIN_TOKEN")));
        let webhooks = webhooks::parse_webhooks(var("WEBHOOKS").as_deref().unwrap_or("{}"), &var, &mut problems);
        let max_webhook_bytes =
            problems.check("MAX_WEBHOOK_BYTES", webhooks::parse_max_webhook_bytes(var("MAX_WEBHOOK_BYTES")));

        // Read by each project's object; checked here so a bad value is a CONFIG_ERROR.
        problems.check("AUDIT_RETENTION_DAYS", audit_retention_days(var("AUDIT_RETENTION_DAYS")));
        let origin = problems.check("ORIGIN", parse_origin(var("ORIGIN")));
        let routes = problems.check(
            "ROUTES",
            rules::parse_rules(
                var("ROUTES").as_deref().filter(|t| !t.trim().is_empty()).unwrap_or(rules::DEFAULT_ROUTES),
            ),
        );

        let dashboard = problems.check("DASHBOARD", parse_dashboard(var("DASHBOARD")));
        let events = events::parse_events(var("EVENTS_URL"), var("EVENTS_SECRET"), var("EVENTS_RETRY_SECONDS"))
            .unwrap_or_else(|(name, problem)| problems.fail(name, problem, None));
        let leaked_key_action = problems
            .check("LEAKED_KEY_ACTION", scanning::parse_leak_action(var("LEAKED_KEY_ACTION")))
            .unwrap_or(LeakAction::Disable);
        let secret_scanning_keys_url = problems
            .check("SECRET_SCANNING_KEYS_URL", scanning::parse_keys_url(var("SECRET_SCANNING_KEYS_URL")))
            .unwrap_or_default();
        let assertion = assertion::parse_assertion(var("ASSERTION_SIGNING_KEY"), var("ASSERTION_ISSUER"))
            .unwrap_or_else(|(name, problem)| problems.fail(name, problem, None));
        let vault = problems.check("VAULT_KEY", parse_vault(var("VAULT_KEY"))).flatten();

        match (environment, key_prefixes, key_headers, plans, admin_token, max_webhook_bytes, origin, routes, dashboard)
        {
            (
                Some(environment),
                Some(key_prefixes),
                Some(key_headers),
                Some(plans),
                Some(admin_token),
                Some(max_webhook_bytes),
                Some(origin),
                Some(routes),
                Some(dashboard),
            ) if problems.0.is_empty() => Ok(Config {
                environment,
                key_prefixes,
                key_headers,
                plans,
                default_plan,
                admin_token,
                webhooks,
                max_webhook_bytes,
                origin,
                routes,
                dashboard,
                events,
                leaked_key_action,
                secret_scanning_keys_url,
                assertion,
                vault,
            }),
            _ => Err(ConfigError { problems: problems.0 }),
        }
    }
}

/// Collects problems, each prefixed with its variable's name.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check<T>(&mut self, name: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.0.push(format!("{name}: {message}"))).ok()
    }

    fn fail<T>(&mut self, name: &str, message: String, fallback: T) -> T {
        self.0.push(format!("{name}: {message}"));
        fallback
    }
}

fn parse_key_headers(text: Option<&str>) -> Result<Vec<String>, String> {
    let Some(text) = text else { return Ok(vec!["x-api-key".to_owned()]) };
    let mut names = Vec::new();
    for name in text.split(',').map(str::trim).filter(|name| !name.is_empty()) {
        if !name.bytes().all(is_header_name_byte) {
            return Err(format!("`{name}` is not a valid header name"));
        }
        let name = name.to_ascii_lowercase();
        if name == "authorization" {
            return Err("`Authorization` is always read as a bearer token; list other headers".to_owned());
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// RFC 9110 `tchar`.
fn is_header_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

fn parse_plans(text: &str) -> Result<BTreeMap<String, Quota>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
    let Value::Object(entries) = value else {
        return Err("must be a JSON object of plan name → {per_minute, per_day}".to_owned());
    };
    if entries.is_empty() {
        return Err("must name at least one plan".to_owned());
    }
    let mut plans = BTreeMap::new();
    for (name, limits) in entries {
        if !is_plan_name(&name) {
            return Err(format!("plan name `{name}` must match [a-z0-9_-]{{1,32}}"));
        }
        let quota = quota_from_json(&limits)
            .ok_or_else(|| format!("plan `{name}` needs positive integers per_minute and per_day"))?;
        plans.insert(name, quota);
    }
    Ok(plans)
}

/// `{"per_minute": N, "per_day": M}` with positive 32-bit integers and nothing else.
pub fn quota_from_json(value: &Value) -> Option<Quota> {
    let object = value.as_object()?;
    if object.len() != 2 {
        return None;
    }
    let limit = |name: &str| object.get(name)?.as_u64()?.try_into().ok();
    Quota::new(limit("per_minute")?, limit("per_day")?)
}

pub fn is_plan_name(name: &str) -> bool {
    is_slug(name, 32, First::Any)
}

/// Whether `url` is an absolute http(s) URL with a host and no fragment
/// (a path and a query are allowed).
fn is_http_url(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.starts_with(['/', '?'])
    }) && !url.contains(['#', ' '])
}

/// An http(s) base URL without query or fragment; empty means none.
fn parse_origin(text: Option<String>) -> Result<Option<String>, String> {
    let text = text.unwrap_or_default();
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !text.contains(['?', '#', ' ']) => {
            Ok(Some(text.trim_end_matches('/').to_owned()))
        }
        _ => Err("must be an http(s) base URL such as https://api.internal.example (no query)".into()),
    }
}

/// `DASHBOARD`: `on` (the default) or `off`.
fn parse_dashboard(text: Option<String>) -> Result<bool, String> {
    match text.as_deref().map(str::trim) {
        None | Some("on") => Ok(true),
        Some("off") => Ok(false),
        Some(_) => Err("must be `on` or `off`".into()),
    }
}

/// `VAULT_KEY`: unset or empty, no vault; the error never repeats the value.
fn parse_vault(text: Option<String>) -> Result<Option<Vault>, String> {
    match text.filter(|text| !text.trim().is_empty()) {
        None => Ok(None),
        Some(text) => Vault::parse(&text).map(Some),
    }
}

fn parse_admin_token(token: Option<String>) -> Result<Option<String>, String> {
    match token {
        None => Ok(None),
        Some(token) if token.is_empty() => Ok(None),
        Some(token) if token.len() < MIN_ADMIN_TOKEN_LEN || token.chars().any(char::is_whitespace) => {
            Err(format!("must be at least {MIN_ADMIN_TOKEN_LEN} characters without whitespace"))
        }
        Some(token) => Ok(Some(token)),
    }
}

#[cfg(test)]
mod tests;
