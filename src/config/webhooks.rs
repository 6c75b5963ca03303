//! `WEBHOOKS`, each source's `WEBHOOK_SECRET_<SOURCE>`, and `MAX_WEBHOOK_BYTES`:
//! the webhook sources verified and how large a body they may send.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{is_header_name_byte, whole_number, Problems};
use crate::slug::{is_slug, First};
use crate::webhook::{Scheme, WebhookSecret};

/// One entry of `WEBHOOKS` with its secrets.
#[derive(Debug, Clone)]
pub struct WebhookSource {
    pub scheme: Scheme,
    pub tolerance_seconds: i64,
    pub forward_to: Option<String>,
    pub secrets: Vec<WebhookSecret>,
}

pub const DEFAULT_MAX_WEBHOOK_BYTES: usize = 1024 * 1024;
/// The highest `MAX_WEBHOOK_BYTES`: GitHub's own cap, and far below an isolate's 128 MB.
pub const MAX_WEBHOOK_BYTES_CEILING: usize = 25 * 1024 * 1024;
const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

/// `MAX_WEBHOOK_BYTES`: from 1 byte to [`MAX_WEBHOOK_BYTES_CEILING`] (default [`DEFAULT_MAX_WEBHOOK_BYTES`]).
pub(super) fn parse_max_webhook_bytes(text: Option<String>) -> Result<usize, String> {
    whole_number(text, DEFAULT_MAX_WEBHOOK_BYTES as u64, MAX_WEBHOOK_BYTES_CEILING as u64, "bytes")
        .map(|bytes| bytes as usize)
}

/// `WEBHOOKS` and each source's `WEBHOOK_SECRET_<SOURCE>`; problems name the variable and source.
pub(super) fn parse_webhooks(
    text: &str,
    var: &impl Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> BTreeMap<String, WebhookSource> {
    let mut sources = BTreeMap::new();
    let entries = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(entries)) => entries,
        Ok(_) => return problems.fail("WEBHOOKS", "must be a JSON object of source name → settings".into(), sources),
        Err(e) => return problems.fail("WEBHOOKS", format!("not valid JSON ({e})"), sources),
    };
    for (name, settings) in entries {
        match parse_source(&name, &settings) {
            Err(message) => problems.0.push(format!("WEBHOOKS: source `{name}`: {message}")),
            Ok(scheme_settings) => {
                let secret_var = secret_variable(&name);
                match parse_secrets(&scheme_settings.0, var(&secret_var)) {
                    Err(message) => problems.0.push(format!("{secret_var}: {message} (source `{name}`)")),
                    Ok(secrets) => {
                        let (scheme, tolerance_seconds, forward_to) = scheme_settings;
                        sources.insert(name, WebhookSource { scheme, tolerance_seconds, forward_to, secrets });
                    }
                }
            }
        }
    }
    sources
}

/// `WEBHOOK_SECRET_` + the source name upper-cased, `-` replaced by `_`.
pub fn secret_variable(source: &str) -> String {
    format!("WEBHOOK_SECRET_{}", source.to_ascii_uppercase().replace('-', "_"))
}

fn parse_source(name: &str, settings: &Value) -> Result<(Scheme, i64, Option<String>), String> {
    if !is_slug(name, 64, First::Any) {
        return Err("a source name matches [a-z0-9_-]{1,64}".into());
    }
    let Value::Object(fields) = settings else { return Err("must be an object".into()) };
    if let Some(unknown) =
        fields.keys().find(|k| !["scheme", "header", "tolerance_seconds", "forward_to"].contains(&k.as_str()))
    {
        return Err(format!("unknown setting `{unknown}`"));
    }
    let text = |key: &str| match fields.get(key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(_) => Err(format!("`{key}` must be a string")),
    };
    let scheme_name = text("scheme")?.ok_or("`scheme` is required")?;
    let header = text("header")?;
    if header.is_some_and(|h| h.is_empty() || !h.bytes().all(is_header_name_byte)) {
        return Err("`header` is not a valid header name".into());
    }
    let scheme = Scheme::parse(scheme_name, header)?;
    let tolerance = match fields.get("tolerance_seconds") {
        None => DEFAULT_TOLERANCE_SECONDS,
        Some(value) => value
            .as_i64()
            .filter(|seconds| (1..=86_400).contains(seconds))
            .ok_or("`tolerance_seconds` must be an integer from 1 to 86400")?,
    };
    let forward_to = text("forward_to")?;
    if forward_to.is_some_and(|url| !(url.starts_with("https://") || url.starts_with("http://"))) {
        return Err("`forward_to` must be an http(s) URL".into());
    }
    Ok((scheme, tolerance, forward_to.map(str::to_owned)))
}

/// One secret, or a JSON array of secrets during rotation; a secret may contain spaces.
fn parse_secrets(scheme: &Scheme, value: Option<String>) -> Result<Vec<WebhookSecret>, String> {
    let value = value.ok_or("missing: every webhook source needs its secret")?;
    let texts: Vec<String> = match serde_json::from_str::<Vec<String>>(&value) {
        Ok(list) if value.trim_start().starts_with('[') => list,
        _ => vec![value],
    };
    if texts.is_empty() {
        return Err("the list of secrets is empty".into());
    }
    texts.iter().map(|text| WebhookSecret::parse(scheme, text).map_err(str::to_owned)).collect()
}
