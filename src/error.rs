//! The error table of the contract, as one type.
//!
//! Guarantee: this is the only place that maps a failure to its status, wire
//! code and public fields. Internal detail ([`Error::Unavailable`]) is kept for
//! logs and never rendered.

use crate::ids::KeyId;
use serde_json::{json, Map, Value};

/// Everything a request can fail with, client mistakes and system failures alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    InvalidJson(String),
    /// A path some server behind keygate could read differently; refused before any credential work.
    InvalidPath(crate::path::PathError),
    /// A `_method` query parameter: an origin framework could run another method than the one checked.
    MethodOverride,
    Validation {
        field: String,
        message: String,
    },
    AmbiguousCredentials,
    MissingApiKey,
    /// The message says what is wrong with the presented credential, never which stored key exists.
    InvalidApiKey(String),
    ApiKeyExpired,
    ApiKeyDisabled,
    InvalidSignature(&'static str),
    InsufficientPermissions {
        required_scope: String,
    },
    /// A key acting as admin tried to make a key more powerful than itself in `field`.
    Exceeds {
        field: &'static str,
        message: String,
    },
    ProjectMismatch,
    NotFound,
    KeyNotFound,
    /// No failed event notification with this id in this project.
    EventNotFound,
    /// No shared limits for this owner in this project.
    OwnerNotFound,
    MethodNotAllowed {
        allow: &'static [&'static str],
    },
    PayloadTooLarge {
        limit_bytes: usize,
    },
    /// `If-Match` named a version the key no longer has.
    PreconditionFailed,
    /// A route for the admin token alone was called with an API key.
    AdminTokenRequired,
    /// The key was rotated already: its successor is the key to rotate.
    AlreadyRotated {
        successor: KeyId,
    },
    RateLimited {
        retry_after: u64,
        policy: &'static str,
    },
    /// The key's credits do not cover the request; seconds to the next refill, if it has one.
    UsageExceeded {
        retry_after: Option<u64>,
    },
    /// A credits change on a key that has no credits (unlimited).
    NoCredits,
    /// The key's `allowed_ips` do not hold the client's address (or there is none).
    IpNotAllowed,
    Config(String),
    Origin,
    /// Storage or runtime failure; the detail is for logs only.
    Unavailable(String),
    /// A reveal of a key whose secret was not kept (it was not created recoverable).
    KeyNotRecoverable,
    /// A reveal that `VAULT_KEY` cannot serve: not set, or no longer holding
    /// the vault key that sealed the secret, or a sealed secret that does not open.
    VaultUnavailable(&'static str),
}

impl Error {
    pub fn validation(field: &str, message: impl Into<String>) -> Error {
        Error::Validation { field: field.to_owned(), message: message.into() }
    }

    pub fn unknown_key() -> Error {
        Error::InvalidApiKey("Invalid API key.".to_owned())
    }

    /// One error of every kind (the match below keeps it complete), for documentation checks.
    pub fn examples() -> Vec<Error> {
        let all = vec![
            Error::InvalidJson(String::new()),
            Error::InvalidPath(crate::path::PathError::DotSegment),
            Error::MethodOverride,
            Error::validation("field", ""),
            Error::AmbiguousCredentials,
            Error::MissingApiKey,
            Error::unknown_key(),
            Error::ApiKeyExpired,
            Error::ApiKeyDisabled,
            Error::InvalidSignature(""),
            Error::InsufficientPermissions { required_scope: String::new() },
            Error::Exceeds { field: "field", message: String::new() },
            Error::ProjectMismatch,
            Error::NotFound,
            Error::KeyNotFound,
            Error::EventNotFound,
            Error::OwnerNotFound,
            Error::MethodNotAllowed { allow: &[] },
            Error::PayloadTooLarge { limit_bytes: 0 },
            Error::PreconditionFailed,
            Error::AlreadyRotated { successor: KeyId::placeholder() },
            Error::AdminTokenRequired,
            Error::RateLimited { retry_after: 1, policy: "minute" },
            Error::UsageExceeded { retry_after: None },
            Error::NoCredits,
            Error::IpNotAllowed,
            Error::Config(String::new()),
            Error::Origin,
            Error::Unavailable(String::new()),
            Error::KeyNotRecoverable,
            Error::VaultUnavailable(""),
        ];
        for error in &all {
            // Adding a variant fails to compile here until it is added to the list above.
            match error {
                Error::InvalidJson(_)
                | Error::InvalidPath(_)
                | Error::MethodOverride
                | Error::Validation { .. }
                | Error::AmbiguousCredentials
                | Error::MissingApiKey
                | Error::InvalidApiKey(_)
                | Error::ApiKeyExpired
                | Error::ApiKeyDisabled
                | Error::InvalidSignature(_)
                | Error::InsufficientPermissions { .. }
                | Error::Exceeds { .. }
                | Error::ProjectMismatch
                | Error::NotFound
                | Error::KeyNotFound
                | Error::EventNotFound
                | Error::OwnerNotFound
                | Error::MethodNotAllowed { .. }
                | Error::PayloadTooLarge { .. }
                | Error::PreconditionFailed
                | Error::AlreadyRotated { .. }
                | Error::AdminTokenRequired
                | Error::RateLimited { .. }
                | Error::UsageExceeded { .. }
                | Error::NoCredits
                | Error::IpNotAllowed
                | Error::Config(_)
                | Error::Origin
                | Error::Unavailable(_)
                | Error::KeyNotRecoverable
                | Error::VaultUnavailable(_) => {}
            }
        }
        all
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidJson(_)
            | Error::InvalidPath(_)
            | Error::MethodOverride
            | Error::Validation { .. }
            | Error::AmbiguousCredentials => 400,
            Error::MissingApiKey
            | Error::InvalidApiKey(_)
            | Error::ApiKeyExpired
            | Error::ApiKeyDisabled
            | Error::InvalidSignature(_) => 401,
            Error::InsufficientPermissions { .. }
            | Error::Exceeds { .. }
            | Error::ProjectMismatch
            | Error::AdminTokenRequired
            | Error::IpNotAllowed => 403,
            Error::NotFound | Error::KeyNotFound | Error::EventNotFound | Error::OwnerNotFound => 404,
            Error::MethodNotAllowed { .. } => 405,
            Error::AlreadyRotated { .. } | Error::NoCredits | Error::KeyNotRecoverable => 409,
            Error::PreconditionFailed => 412,
            Error::PayloadTooLarge { .. } => 413,
            Error::RateLimited { .. } | Error::UsageExceeded { .. } => 429,
            Error::Config(_) => 500,
            Error::Origin => 502,
            Error::Unavailable(_) | Error::VaultUnavailable(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidJson(_) => "INVALID_JSON",
            Error::InvalidPath(_) => "INVALID_PATH",
            Error::MethodOverride => "METHOD_OVERRIDE_REFUSED",
            Error::Validation { .. } => "VALIDATION_ERROR",
            Error::AmbiguousCredentials => "AMBIGUOUS_CREDENTIALS",
            Error::MissingApiKey => "MISSING_API_KEY",
            Error::InvalidApiKey(_) => "INVALID_API_KEY",
            Error::ApiKeyExpired => "API_KEY_EXPIRED",
            Error::ApiKeyDisabled => "API_KEY_DISABLED",
            Error::InvalidSignature(_) => "INVALID_SIGNATURE",
            Error::InsufficientPermissions { .. } | Error::Exceeds { .. } | Error::AdminTokenRequired => {
                "INSUFFICIENT_PERMISSIONS"
            }
            Error::ProjectMismatch => "PROJECT_MISMATCH",
            Error::NotFound => "NOT_FOUND",
            Error::KeyNotFound => "KEY_NOT_FOUND",
            Error::EventNotFound => "EVENT_NOT_FOUND",
            Error::OwnerNotFound => "OWNER_NOT_FOUND",
            Error::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            Error::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Error::PreconditionFailed => "PRECONDITION_FAILED",
            Error::AlreadyRotated { .. } => "KEY_ALREADY_ROTATED",
            Error::RateLimited { .. } => "RATE_LIMIT_EXCEEDED",
            Error::UsageExceeded { .. } => "USAGE_EXCEEDED",
            Error::NoCredits => "KEY_HAS_NO_CREDITS",
            Error::IpNotAllowed => "IP_NOT_ALLOWED",
            Error::Config(_) => "CONFIG_ERROR",
            Error::Origin => "ORIGIN_ERROR",
            Error::Unavailable(_) => "UNAVAILABLE",
            Error::KeyNotRecoverable => "KEY_NOT_RECOVERABLE",
            Error::VaultUnavailable(_) => "VAULT_UNAVAILABLE",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Error::InvalidJson(message)
            | Error::Validation { message, .. }
            | Error::InvalidApiKey(message)
            | Error::Exceeds { message, .. } => message.clone(),
            Error::VaultUnavailable(message) => (*message).into(),
            Error::InvalidPath(reason) => format!("Invalid path: {reason}."),
            Error::MethodOverride => {
                "A `_method` query parameter is refused: keygate checks the request's own method.".into()
            }
            Error::AmbiguousCredentials => "Two different API keys were presented; send exactly one.".into(),
            Error::MissingApiKey => "No API key: send `Authorization: Bearer <key>` or the key header.".into(),
            Error::ApiKeyExpired => "The API key has expired.".into(),
            Error::ApiKeyDisabled => "The API key is disabled.".into(),
            Error::InvalidSignature(message) => (*message).into(),
            Error::InsufficientPermissions { required_scope } => {
                format!("The API key lacks the scope `{required_scope}`.")
            }
            Error::ProjectMismatch => "The credential belongs to another project.".into(),
            Error::NotFound => "No such route.".into(),
            Error::KeyNotFound => "No such key in this project.".into(),
            Error::EventNotFound => "No failed event with this id in this project.".into(),
            Error::OwnerNotFound => "This owner has no shared limits in this project.".into(),
            Error::MethodNotAllowed { allow } => format!("Method not allowed; this route takes {}.", allow.join(", ")),
            Error::PayloadTooLarge { limit_bytes } => {
                format!("The request body is larger than {limit_bytes} bytes.")
            }
            Error::PreconditionFailed => "The key changed since the version in If-Match; read it again.".into(),
            Error::AdminTokenRequired => "Only the admin token may do this; an API key may not.".into(),
            Error::AlreadyRotated { successor } => {
                format!("This key was already rotated; its successor {successor} is the key to rotate.")
            }
            Error::RateLimited { retry_after, .. } => {
                format!("Rate limit exceeded. Please retry after {retry_after} seconds.")
            }
            Error::UsageExceeded { retry_after: Some(seconds) } => {
                format!("The key's credits are used up; they refill in {seconds} seconds.")
            }
            Error::UsageExceeded { retry_after: None } => "The key's credits are used up.".into(),
            Error::NoCredits => "This key has no credits (it is unlimited); give it some with PATCH first.".into(),
            Error::IpNotAllowed => "The API key may not be used from this client address.".into(),
            Error::Config(message) => format!("Configuration error: {message}"),
            Error::Origin => "The origin could not be reached.".into(),
            Error::Unavailable(_) => "Key storage is unavailable; the request was not let through.".into(),
            Error::KeyNotRecoverable => {
                "This key's secret was not kept: only a key created or rotated with `recoverable: true` can be revealed."
                    .into()
            }
        }
    }

    /// The contract's extra fields beside `code` and `message`.
    fn extra_fields(&self, fields: &mut Map<String, Value>) {
        match self {
            Error::Validation { field, .. } => {
                fields.insert("field".into(), json!(field));
            }
            Error::Exceeds { field, .. } => {
                fields.insert("field".into(), json!(field));
            }
            Error::InsufficientPermissions { required_scope } => {
                fields.insert("required_scope".into(), json!(required_scope));
            }
            Error::PayloadTooLarge { limit_bytes } => {
                fields.insert("limit_bytes".into(), json!(limit_bytes));
            }
            Error::RateLimited { retry_after, policy } => {
                fields.insert("retry_after".into(), json!(retry_after));
                fields.insert("policy".into(), json!(policy));
            }
            Error::UsageExceeded { retry_after: Some(retry_after) } => {
                fields.insert("retry_after".into(), json!(retry_after));
            }
            _ => {}
        }
    }

    /// What went wrong inside, for the log line only: the failing binding and
    /// what it said, or the configuration problem. Never rendered in an answer.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Error::Unavailable(detail) | Error::Config(detail) => Some(detail),
            _ => None,
        }
    }

    /// `code`, `message` and the extra fields, as one JSON object.
    pub fn fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("code".into(), json!(self.code()));
        fields.insert("message".into(), json!(self.message()));
        self.extra_fields(&mut fields);
        fields
    }

    /// `{"error":{…}}`, the body of every error answer.
    pub fn to_json(&self) -> Value {
        json!({ "error": self.fields() })
    }

    /// Headers the contract attaches to this error.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            _ if self.status() == 401 => vec![("www-authenticate", r#"Bearer realm="keygate""#.to_owned())],
            Error::RateLimited { retry_after, .. } | Error::UsageExceeded { retry_after: Some(retry_after) } => {
                vec![("retry-after", retry_after.to_string())]
            }
            Error::MethodNotAllowed { allow } => vec![("allow", allow.join(", "))],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_401_challenges_for_a_bearer_token() {
        for error in [
            Error::MissingApiKey,
            Error::unknown_key(),
            Error::ApiKeyExpired,
            Error::ApiKeyDisabled,
            Error::InvalidSignature("bad"),
        ] {
            assert_eq!(error.status(), 401);
            assert_eq!(error.headers(), vec![("www-authenticate", r#"Bearer realm="keygate""#.to_owned())]);
        }
        assert!(Error::ProjectMismatch.headers().is_empty());
    }

    #[test]
    fn rate_limit_error_carries_retry_after_twice() {
        let error = Error::RateLimited { retry_after: 7, policy: "minute" };
        assert_eq!(error.status(), 429);
        assert_eq!(error.headers(), vec![("retry-after", "7".to_owned())]);
        assert_eq!(
            error.to_json(),
            json!({"error":{"code":"RATE_LIMIT_EXCEEDED","message":"Rate limit exceeded. Please retry after 7 seconds.","retry_after":7,"policy":"minute"}})
        );
    }

    #[test]
    fn extra_fields_follow_the_table() {
        assert_eq!(Error::validation("name", "too long").to_json()["error"]["field"], "name");
        let scope = Error::InsufficientPermissions { required_scope: "bots:write".into() };
        assert_eq!(scope.to_json()["error"]["required_scope"], "bots:write");
        assert_eq!(Error::PayloadTooLarge { limit_bytes: 10 }.to_json()["error"]["limit_bytes"], 10);
        let not_allowed = Error::MethodNotAllowed { allow: &["GET", "HEAD"] };
        assert_eq!(not_allowed.headers(), vec![("allow", "GET, HEAD".to_owned())]);
    }

    #[test]
    fn unavailable_hides_its_detail() {
        let error = Error::Unavailable("KV get failed: secret-ish detail".into());
        assert_eq!(error.status(), 503);
        assert!(!error.to_json().to_string().contains("secret-ish"));
    }
}
