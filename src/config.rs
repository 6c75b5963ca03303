//! Deployment configuration, parsed once per isolate from vars and secrets.
//!
//! Guarantee: a [`Config`] is complete and valid; every problem found on the
//! way is reported together, each naming its variable, and none panics.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::key::Environment;
use crate::ratelimit::Quota;

/// The shortest `ADMIN_TOKEN` accepted: anything shorter is guessable.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

#[derive(Clone)]
pub struct Config {
    pub environment: Environment,
    /// Lower-cased header names that may carry a key besides `Authorization`.
    pub key_headers: Vec<String>,
    pub plans: BTreeMap<String, Quota>,
    pub default_plan: String,
    pub admin_token: Option<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("environment", &self.environment)
            .field("key_headers", &self.key_headers)
            .field("plans", &self.plans)
            .field("default_plan", &self.default_plan)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "[redacted]"))
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

        match (environment, key_headers, plans, admin_token) {
            (Some(environment), Some(key_headers), Some(plans), Some(admin_token)) if problems.0.is_empty() => {
                Ok(Config { environment, key_headers, plans, default_plan, admin_token })
            }
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
    (1..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
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
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn defaults_follow_the_contract() {
        let config = config(&[]).unwrap();
        assert_eq!(config.environment, Environment::Live);
        assert_eq!(config.key_headers, vec!["x-api-key"]);
        assert_eq!(config.plans["standard"], Quota::new(100, 10_000).unwrap());
        assert_eq!(config.plans["professional"], Quota::new(300, 50_000).unwrap());
        assert_eq!(config.default_plan, "standard");
        assert_eq!(config.admin_token, None);
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
}
