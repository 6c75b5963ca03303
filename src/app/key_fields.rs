//! What an admin request's body may say about a key: one validator per field.
//!
//! Guarantee: every field is checked, and refused with `VALIDATION_ERROR`
//! naming it, before anything is written; messages never echo values.

use serde_json::{Map, Value};

use crate::app::json::{Field, JsonObject};
use crate::app::principal::Principal;
use crate::config::Config;
use crate::error::Error;
use crate::key::Environment;
use crate::ratelimit::Quota;
use crate::record::{parse_rfc3339, KeyRecord, KeyStatus, UnixMillis};
use crate::scope::Scope;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_SCOPES: usize = 64;
pub const MAX_META_BYTES: usize = 1024;
pub const CREATE_FIELDS: &[&str] = &["name", "scopes", "environment", "plan", "rate_limit", "expires_at", "meta"];
pub const PATCH_FIELDS: &[&str] = &["name", "scopes", "status", "plan", "rate_limit", "expires_at", "meta"];

/// The record a create body asks for (no id or prefix yet), checked field by field.
pub fn new_record(config: &Config, project: &str, body: &JsonObject, now: UnixMillis) -> Result<KeyRecord, Error> {
    let name = match body.field("name") {
        Field::Present(value) => name(value)?,
        _ => return Err(Error::validation("name", "Required: a name of 1 to 100 characters.")),
    };
    let scopes = match body.field("scopes") {
        Field::Present(value) => scopes(value)?,
        Field::Absent | Field::Null => Vec::new(),
    };
    let environment = match body.optional_str("environment")? {
        None => config.environment,
        Some(text) => {
            Environment::parse(text).ok_or_else(|| Error::validation("environment", "Must be `live` or `test`."))?
        }
    };
    let (plan, rate_limit) = match limits(config, body)? {
        Some(limits) => limits,
        None => (Some(config.default_plan.clone()), config.plans[&config.default_plan]),
    };
    let expires_at = match body.field("expires_at") {
        Field::Present(value) => Some(future_time(value, now)?),
        Field::Absent | Field::Null => None,
    };
    let meta = match body.field("meta") {
        Field::Present(value) => meta(value)?,
        Field::Absent | Field::Null => Map::new(),
    };
    Ok(KeyRecord {
        id: String::new(),
        project: project.to_owned(),
        name,
        prefix: String::new(),
        scopes,
        environment: environment.as_str().to_owned(),
        status: KeyStatus::Active,
        plan,
        rate_limit,
        meta,
        created_at: now,
        updated_at: now,
        expires_at,
        rotated_from: None,
        disabled_by_admin: false,
    })
}

/// Applies a PATCH body to `record`; every field is checked before anything is written.
pub fn apply_patch(
    config: &Config,
    body: &JsonObject,
    principal: &Principal,
    record: &mut KeyRecord,
    now: UnixMillis,
) -> Result<(), Error> {
    if let Field::Present(value) = body.field("name") {
        record.name = name(value)?;
    }
    if let Field::Present(value) = body.field("scopes") {
        record.scopes = scopes(value)?;
    }
    match body.field("status") {
        Field::Absent => {}
        Field::Present(Value::String(status)) if status == "active" => principal.set_status(record, KeyStatus::Active),
        Field::Present(Value::String(status)) if status == "inactive" => {
            principal.set_status(record, KeyStatus::Inactive)
        }
        _ => return Err(Error::validation("status", "Must be `active` or `inactive`.")),
    }
    if let Some((plan, rate_limit)) = limits(config, body)? {
        (record.plan, record.rate_limit) = (plan, rate_limit);
    }
    match body.field("expires_at") {
        Field::Absent => {}
        Field::Null => record.expires_at = None,
        Field::Present(value) => record.expires_at = Some(future_time(value, now)?),
    }
    match body.field("meta") {
        Field::Absent => {}
        Field::Null => record.meta = Map::new(),
        Field::Present(value) => record.meta = meta(value)?,
    }
    Ok(())
}

/// `plan` or `rate_limit` from a body: `None` when neither is given.
fn limits(config: &Config, body: &JsonObject) -> Result<Option<(Option<String>, Quota)>, Error> {
    match (body.field("plan"), body.field("rate_limit")) {
        (Field::Present(_), Field::Present(_)) => {
            Err(Error::validation("rate_limit", "Give either plan or rate_limit, not both."))
        }
        (Field::Present(plan), _) => {
            let name = plan.as_str().ok_or_else(|| Error::validation("plan", "Must be a string."))?;
            let quota = config.plans.get(name).ok_or_else(|| {
                let known = config.plans.keys().cloned().collect::<Vec<_>>().join(", ");
                Error::validation("plan", format!("Unknown plan; this deployment has: {known}."))
            })?;
            Ok(Some((Some(name.to_owned()), *quota)))
        }
        (_, Field::Present(limits)) => {
            let quota = crate::config::quota_from_json(limits).ok_or_else(|| {
                Error::validation("rate_limit", "Must be {\"per_minute\": N, \"per_day\": M} with positive integers.")
            })?;
            Ok(Some((None, quota)))
        }
        _ => Ok(None),
    }
}

fn name(value: &Value) -> Result<String, Error> {
    let text = value.as_str().ok_or_else(|| Error::validation("name", "Must be a string."))?;
    let chars = text.chars().count();
    if text.trim().is_empty() || chars > MAX_NAME_CHARS || text.chars().any(char::is_control) {
        return Err(Error::validation("name", "Must be 1 to 100 characters, not blank, without control characters."));
    }
    Ok(text.to_owned())
}

/// A list of well-formed scopes, duplicates dropped, order kept.
fn scopes(value: &Value) -> Result<Vec<String>, Error> {
    let items = value.as_array().ok_or_else(|| Error::validation("scopes", "Must be an array of scope strings."))?;
    if items.len() > MAX_SCOPES {
        return Err(Error::validation("scopes", format!("At most {MAX_SCOPES} scopes.")));
    }
    let mut scopes: Vec<String> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let text =
            item.as_str().ok_or_else(|| Error::validation("scopes", format!("scopes[{index}] is not a string.")))?;
        let scope = Scope::parse(text).map_err(|e| Error::validation("scopes", format!("scopes[{index}]: {e}.")))?;
        let text = scope.to_string();
        if !scopes.contains(&text) {
            scopes.push(text);
        }
    }
    Ok(scopes)
}

fn future_time(value: &Value, now: UnixMillis) -> Result<UnixMillis, Error> {
    let at = value
        .as_str()
        .and_then(parse_rfc3339)
        .ok_or_else(|| Error::validation("expires_at", "Must be an RFC 3339 timestamp, e.g. 2030-01-01T00:00:00Z."))?;
    if at <= now {
        return Err(Error::validation("expires_at", "Must be in the future."));
    }
    Ok(at)
}

fn meta(value: &Value) -> Result<Map<String, Value>, Error> {
    let Value::Object(object) = value else { return Err(Error::validation("meta", "Must be a JSON object.")) };
    if value.to_string().len() > MAX_META_BYTES {
        return Err(Error::validation("meta", format!("Must be at most {MAX_META_BYTES} bytes as JSON.")));
    }
    Ok(object.clone())
}
