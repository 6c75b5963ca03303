//! `LEAKED_KEY_ACTION` and `SECRET_SCANNING_KEYS_URL`: what a leak report
//! (GitHub secret scanning) does, and where GitHub's public keys are.

use super::is_http_url;
use crate::secret_scanning::GITHUB_KEYS_URL;

/// What a leak report does to a key of this deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakAction {
    /// Deactivated as the admin token would (only it re-activates the key).
    Disable,
    Delete,
    /// Only marked `leaked`.
    Report,
}

/// `LEAKED_KEY_ACTION`: `disable` (the default), `delete` or `report`.
pub fn parse_leak_action(text: Option<String>) -> Result<LeakAction, String> {
    match text.as_deref().map(str::trim) {
        None | Some("") | Some("disable") => Ok(LeakAction::Disable),
        Some("delete") => Ok(LeakAction::Delete),
        Some("report") => Ok(LeakAction::Report),
        Some(_) => Err("must be `disable`, `delete` or `report`".into()),
    }
}

/// `SECRET_SCANNING_KEYS_URL`: an http(s) URL, GitHub's by default.
pub fn parse_keys_url(text: Option<String>) -> Result<String, String> {
    let text = text.unwrap_or_default();
    let url = text.trim();
    if url.is_empty() {
        return Ok(GITHUB_KEYS_URL.to_owned());
    }
    if is_http_url(url) {
        Ok(url.to_owned())
    } else {
        Err("must be an http(s) URL".into())
    }
}
