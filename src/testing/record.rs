//! A key record for tests, written out once: each test names only what differs.

use crate::ids::{KeyId, ProjectId};
use crate::key::Environment;
use crate::ratelimit::Quota;
use crate::record::{KeyRecord, KeyStatus, UnixMillis};

/// An active live key `id` of `project` with `scopes`, created and last
/// updated `at`, at 60 requests a minute: no plan, expiry, credits, owner or allowlist.
pub fn key_record(id: &str, project: &str, scopes: &[&str], at: UnixMillis) -> KeyRecord {
    KeyRecord {
        id: KeyId::parse(id).unwrap(),
        project: ProjectId::parse(project).unwrap(),
        name: "n".into(),
        prefix: "sk_live_abcd".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        environment: Environment::Live,
        status: KeyStatus::Active,
        plan: None,
        rate_limit: Quota::new(60, 1000).unwrap(),
        meta: Default::default(),
        created_at: at,
        updated_at: at,
        expires_at: None,
        rotated_from: None,
        rotated_to: None,
        disabled_by_admin: false,
        leaked: None,
        credits: None,
        owner_id: None,
        allowed_ips: None,
        recoverable: false,
    }
}
