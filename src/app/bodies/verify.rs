//! The verify body: the key, the scope, project, cost and client address to check it against.

use std::net::IpAddr;

use serde::Deserialize;

use super::numbers::Whole;
use crate::scope::Scope;

/// A scope to check, parsed.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct WantedScope(pub Scope);

impl TryFrom<String> for WantedScope {
    type Error = String;

    fn try_from(text: String) -> Result<WantedScope, String> {
        let scope = Scope::parse(&text).map_err(|e| e.to_string())?;
        Ok(WantedScope(scope))
    }
}

/// `POST /v1/keys/verify`; an empty body counts as `{}`, `null` as absent. Without
/// `key`, the key is the request's credential. A misspelt `scopes` is refused,
/// never a silently skipped check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyKey {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub scope: Option<WantedScope>,
    #[serde(default)]
    pub project: Option<String>,
    /// The credits this request spends if admitted (1 by default).
    #[serde(default)]
    pub cost: Option<Whole>,
    /// The address of the client that sent `key`, judged by a key with `allowed_ips`.
    #[serde(default)]
    pub ip: Option<ClientIp>,
}

/// An IP address (IPv4, or IPv6 without a zone).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
pub struct ClientIp(pub IpAddr);

impl TryFrom<String> for ClientIp {
    type Error = &'static str;

    fn try_from(text: String) -> Result<ClientIp, &'static str> {
        text.parse().map(ClientIp).map_err(|_| "Must be an IPv4 or IPv6 address.")
    }
}
