//! Key verification: from a presented credential to a [`Decision`].
//!
//! Order, cheapest first: credential shape → key format and checksum (no read)
//! → environment (no read) → one KV read → status → expiry → project → scope.
//! Guarantee: `Err` is only a system failure (fail closed, 503); every verdict
//! about the key is a [`Decision`], and unknown, deleted and wrong-environment
//! keys get the same public answer.

use serde_json::{json, Value};

use crate::app::http::{Request, Response};
use crate::app::json::JsonObject;
use crate::app::record::{rfc3339, KeyRecord, KeyStatus, UnixMillis};
use crate::app::store::{KeyStore, KeyValueStore};
use crate::config::Config;
use crate::error::Error;
use crate::key::ApiKey;
use crate::scope::{Scope, ScopeSet};

/// The verdict on a presented key.
// Built once per request and moved out: boxing the grant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Allow(Grant),
    /// Holds a client-facing error (4xx), never a system failure.
    Deny(Error),
}

/// A key that passed every check, with its parsed scopes.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub record: KeyRecord,
    pub scopes: ScopeSet,
}

/// What a request asks of a key besides being valid.
#[derive(Debug, Clone, Default)]
pub struct Requirement {
    pub scope: Option<Scope>,
    pub project: Option<String>,
}

/// The key a request presents in `Authorization: Bearer` or a configured key header.
///
/// Errors are denials: missing, two different keys, or a malformed `Authorization`.
pub fn presented_key<'r>(request: &'r Request, config: &Config) -> Result<&'r str, Error> {
    let mut found: Option<&str> = None;
    let bearer = request.header_values("authorization").map(bearer_token);
    let headers = config.key_headers.iter().flat_map(|name| request.header_values(name)).map(Ok);
    for candidate in bearer.chain(headers) {
        let candidate = candidate?;
        match found {
            Some(previous) if previous != candidate => return Err(Error::AmbiguousCredentials),
            _ => found = Some(candidate),
        }
    }
    found.ok_or(Error::MissingApiKey)
}

/// The token of an `Authorization: Bearer <token>` value.
pub fn bearer_token(value: &str) -> Result<&str, Error> {
    let scheme_ok = value.len() > 7 && value.is_char_boundary(7) && value[..7].eq_ignore_ascii_case("bearer ");
    if !scheme_ok {
        return Err(Error::InvalidApiKey("The Authorization header must be `Bearer <key>`.".into()));
    }
    let token = &value[7..];
    if token.trim() != token {
        return Err(Error::InvalidApiKey("The bearer token has leading or trailing whitespace.".into()));
    }
    Ok(token)
}

/// Runs every check on `presented` against `requirement` at `now`.
pub async fn verify<S: KeyValueStore>(
    config: &Config,
    store: &KeyStore<S>,
    now: UnixMillis,
    presented: &str,
    requirement: &Requirement,
) -> Result<Decision, Error> {
    let key = match ApiKey::parse(presented) {
        Ok(key) => key,
        Err(reason) => return Ok(Decision::Deny(Error::InvalidApiKey(format!("Invalid API key: {reason}.")))),
    };
    if key.environment() != config.environment {
        let message =
            format!("Invalid API key: this deployment accepts only sk_{}_ keys.", config.environment.as_str());
        return Ok(Decision::Deny(Error::InvalidApiKey(message)));
    }
    let Some(record) = store.get(&key.digest()).await? else {
        return Ok(Decision::Deny(Error::unknown_key()));
    };
    if record.environment != config.environment.as_str() {
        return Ok(Decision::Deny(Error::unknown_key()));
    }
    judge(record, now, requirement)
}

/// The checks on a stored record: status, expiry, project, scope.
pub fn judge(record: KeyRecord, now: UnixMillis, requirement: &Requirement) -> Result<Decision, Error> {
    if record.status == KeyStatus::Inactive {
        return Ok(Decision::Deny(Error::ApiKeyDisabled));
    }
    if record.is_expired(now) {
        return Ok(Decision::Deny(Error::ApiKeyExpired));
    }
    if requirement.project.as_ref().is_some_and(|project| *project != record.project) {
        return Ok(Decision::Deny(Error::ProjectMismatch));
    }
    let scopes = ScopeSet::parse_all(record.scopes.iter().map(String::as_str))
        .map_err(|e| Error::Unavailable(format!("stored scope of {} is malformed: {e}", record.id)))?;
    if let Some(wanted) = &requirement.scope {
        if !scopes.grants(wanted) {
            return Ok(Decision::Deny(Error::InsufficientPermissions { required_scope: wanted.to_string() }));
        }
    }
    Ok(Decision::Allow(Grant { record, scopes }))
}

/// `POST /v1/keys/verify`: 200 with the verdict; only a malformed body is 400.
pub async fn handle_verify<S: KeyValueStore>(
    config: &Config,
    store: &KeyStore<S>,
    now: UnixMillis,
    request: &Request,
) -> Result<Response, Error> {
    let body = JsonObject::parse(&request.body, true)?.only(&["key", "scope", "project"])?;
    let scope = body
        .optional_str("scope")?
        .map(|text| Scope::parse(text).map_err(|e| Error::validation("scope", format!("{e}."))))
        .transpose()?;
    let project = body.optional_str("project")?.map(str::to_owned);
    let presented = match body.optional_str("key")? {
        Some(key) => key,
        None => match presented_key(request, config) {
            Ok(key) => key,
            Err(denial) => return Ok(Response::json(200, &invalid(&denial))),
        },
    };
    let requirement = Requirement { scope, project };
    let answer = match verify(config, store, now, presented, &requirement).await? {
        Decision::Allow(grant) => valid(&grant.record),
        Decision::Deny(denial) => invalid(&denial),
    };
    Ok(Response::json(200, &answer))
}

fn valid(record: &KeyRecord) -> Value {
    json!({
        "valid": true,
        "code": "VALID",
        "key_id": record.id,
        "project": record.project,
        "scopes": record.scopes,
        "environment": record.environment,
        "expires_at": record.expires_at.map(rfc3339),
        "ratelimit": null,
    })
}

fn invalid(denial: &Error) -> Value {
    let mut answer = json!({ "valid": false });
    answer.as_object_mut().expect("object").extend(denial.fields());
    answer
}
