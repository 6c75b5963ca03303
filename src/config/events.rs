//! `EVENTS_URL`, `EVENTS_SECRET` and `EVENTS_RETRY_SECONDS`: where signed
//! event notifications go (see [`crate::events`]).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::{is_http_url, whole_number};
use crate::webhook::{Scheme, WebhookSecret};

/// The shortest `EVENTS_SECRET` key: Standard Webhooks secrets are 24 to 64 random bytes.
const MIN_SECRET_BYTES: usize = 16;
/// The default wait before the first retry, doubled for each next one.
pub const DEFAULT_RETRY_SECONDS: u64 = 10;

#[derive(Clone)]
pub struct EventsConfig {
    /// The receiver's URL (http or https, query allowed).
    pub url: String,
    /// A Standard Webhooks secret (`whsec_…`).
    pub secret: WebhookSecret,
    pub retry_seconds: u64,
}

impl fmt::Debug for EventsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventsConfig")
            .field("url", &self.url)
            .field("retry_seconds", &self.retry_seconds)
            .finish_non_exhaustive()
    }
}

/// Whether `EVENTS_URL` is set: what the Durable Objects read to decide
/// whether to queue notifications (the worker refuses a bad value as a CONFIG_ERROR).
pub fn events_on(url: Option<String>) -> bool {
    url.is_some_and(|url| !url.trim().is_empty())
}

/// The events configuration: `None` when `EVENTS_URL` is unset or empty.
pub fn parse_events(
    url: Option<String>,
    secret: Option<String>,
    retry_seconds: Option<String>,
) -> Result<Option<EventsConfig>, (&'static str, String)> {
    if !events_on(url.clone()) {
        return Ok(None);
    }
    let url = url.unwrap_or_default();
    let url = url.trim();
    if !is_http_url(url) {
        return Err(("EVENTS_URL", "must be an http(s) URL such as https://hooks.example.com/keygate".into()));
    }
    let secret = secret.filter(|secret| !secret.trim().is_empty()).ok_or((
        "EVENTS_SECRET",
        "must be set (a Standard Webhooks secret, whsec_ + base64) when EVENTS_URL is".to_owned(),
    ))?;
    let decoded = STANDARD.decode(secret.trim().strip_prefix("whsec_").unwrap_or(secret.trim())).unwrap_or_default();
    if decoded.len() < MIN_SECRET_BYTES {
        return Err(("EVENTS_SECRET", format!("must be whsec_ + base64 of at least {MIN_SECRET_BYTES} random bytes")));
    }
    let secret = WebhookSecret::parse(&Scheme::Standard, secret.trim())
        .map_err(|problem| ("EVENTS_SECRET", problem.to_owned()))?;
    let retry_seconds = whole_number(retry_seconds, DEFAULT_RETRY_SECONDS, 3600, "seconds")
        .map_err(|problem| ("EVENTS_RETRY_SECONDS", problem))?;
    Ok(Some(EventsConfig { url: url.to_owned(), secret, retry_seconds }))
}
