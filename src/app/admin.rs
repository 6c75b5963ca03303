//! The admin API: create, list, get, update, delete and rotate a project's keys.
//!
//! Guarantees: every field is validated before anything is written; every
//! write is a compare-and-set on the version it read, so concurrent writes
//! are never lost and a deleted key stays deleted; `If-Match` makes a write
//! conditional (412); a key acting as admin (`keys:read`/`keys:write`) works
//! in its own project only, within [`Principal`]'s rules. Secrets appear only
//! in the answer that creates them.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::bodies::{apply_patch, new_record, parse_body, PatchKey, RotateKey};
use crate::app::credential::Credential;
use crate::app::http::{Request, Response};
use crate::app::limiter::{out_of_protocol, Limiter};
use crate::app::principal::Principal;
use crate::app::routes::Route;
use crate::app::store::KeyValueStore;
use crate::app::verify::{Decision, Requirement};
use crate::app::{Context, Trace};
use crate::error::Error;
use crate::ids::{KeyId, ProjectId};
use crate::key::ApiKey;
use crate::keystate::{LimiterAnswer, LimiterCall};
use crate::ratelimit::PolicyStatus;
use crate::record::{rfc3339, KeyRecord, UnixMillis};
use crate::scope::Scope;

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// How many times a write without `If-Match` reads and applies itself again
/// when another write got in first. Each retry means another write to the
/// same key succeeded, so this bounds the concurrent writers a write outlasts.
const WRITE_ATTEMPTS: usize = 32;

/// A key as the admin API finds it by project and id.
// One per request, moved out at once: boxing the record would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Found {
    Live {
        digest_hex: String,
        record: KeyRecord,
    },
    /// Deleted in its object; KV may still hold its pointer (a deletion that failed half-way).
    Deleted {
        digest_hex: String,
    },
}

/// `If-Match`: `*`, or entity tags of which one must be the key's current
/// version. Weak tags never match (RFC 9110's strong comparison).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Precondition {
    Any,
    Tags(Vec<String>),
}

impl Precondition {
    fn of(request: &Request) -> Option<Precondition> {
        let values: Vec<&str> = request.header_values("if-match").collect();
        if values.is_empty() {
            return None;
        }
        let tags: Vec<String> =
            values.iter().flat_map(|value| value.split(',')).map(|tag| tag.trim().to_owned()).collect();
        Some(if tags.iter().any(|tag| tag == "*") { Precondition::Any } else { Precondition::Tags(tags) })
    }

    fn holds_for(&self, record: &KeyRecord) -> Result<(), Error> {
        match self {
            Precondition::Tags(tags) if !tags.contains(&record.etag()) => Err(Error::PreconditionFailed),
            _ => Ok(()),
        }
    }
}

/// The key object with its `ETag`; `extra` fields (the plaintext key) are added to the body.
fn key_answer(status: u16, record: &KeyRecord, secret: Option<&ApiKey>) -> Response {
    let mut body = record.to_json();
    if let Some(key) = secret {
        body["key"] = json!(key.expose());
    }
    let mut response = Response::json(status, &body);
    response.headers.push(("etag".into(), record.etag()));
    response
}

impl<S: KeyValueStore, L: Limiter, O> Context<'_, S, L, O> {
    /// Serves an admin route; `method` has been checked against the route already.
    pub async fn handle_admin(
        &self,
        route: Route<'_>,
        request: &Request,
        trace: &mut Trace<'_>,
    ) -> Result<Response, Error> {
        let (project, id) = match route {
            Route::Keys { project } => (project, None),
            Route::Key { project, id } | Route::Rotate { project, id } | Route::Usage { project, id } => {
                (project, Some(id))
            }
            _ => return Err(Error::NotFound),
        };
        let project = &ProjectId::parse(project).map_err(|invalid| Error::validation("project", invalid.0))?;
        let access = if request.method == "GET" { Access::Read } else { Access::Write };
        let principal = self.authenticate(request, project, access, trace).await?;
        let Some(id) = id else {
            return match request.method.as_str() {
                "POST" => self.create(project, &principal, request).await,
                _ => self.list(project, request).await,
            };
        };
        let id = &KeyId::parse(id).map_err(|_| Error::KeyNotFound)?;
        let precondition = Precondition::of(request);
        match (route, request.method.as_str()) {
            (Route::Key { .. }, "GET") => Ok(key_answer(200, &self.find_live(project, id).await?.1, None)),
            (Route::Key { .. }, "PATCH") => self.update(project, id, &principal, precondition, request).await,
            (Route::Key { .. }, _) => self.delete(project, id, &principal, precondition).await,
            (Route::Rotate { .. }, _) => self.rotate(project, id, &principal, precondition, request).await,
            (Route::Usage { .. }, _) => self.usage(&self.find_live(project, id).await?.1).await,
            _ => Err(Error::NotFound),
        }
    }

    /// `ADMIN_TOKEN` as a bearer token, or an API key with `keys:<access>` in this project.
    async fn authenticate(
        &self,
        request: &Request,
        project: &ProjectId,
        access: Access,
        trace: &mut Trace<'_>,
    ) -> Result<Principal, Error> {
        let credential = Credential::of(request, self.config)?;
        // Compared first, so an ADMIN_TOKEN shaped like a key works too.
        let admin_token = self.config.admin_token.as_deref();
        if credential.bearer && admin_token.is_some_and(|admin_token| same_secret(credential.value, admin_token)) {
            return Ok(Principal::Root);
        }
        if credential.bearer && !ApiKey::is_key_shaped(credential.value) {
            return Err(match admin_token {
                Some(_) => Error::InvalidApiKey("Invalid admin token.".into()),
                None => Error::InvalidApiKey("Admin token authentication is off: ADMIN_TOKEN is not set.".into()),
            });
        }
        let action = match access {
            Access::Read => "read",
            Access::Write => "write",
        };
        let requirement = Requirement {
            scope: Some(Scope::Action { resource: "keys".into(), action: action.into() }),
            project: Some(project.to_string()),
        };
        match trace.saw(self.verify(credential.value, &requirement).await?).decision {
            Decision::Allow(grant) => Ok(Principal::Key(grant.record)),
            Decision::Deny(denial) => Err(denial),
        }
    }

    /// A key by project and id: KV's pointer finds it, its Durable Object has the last word.
    async fn find(&self, project: &ProjectId, id: &KeyId) -> Result<Found, Error> {
        let (digest_hex, kv_record) = self.keys.find(project, id).await?.ok_or(Error::KeyNotFound)?;
        match self.limiter.call(id, LimiterCall::Get).await? {
            LimiterAnswer::Record { deleted: true, .. } => Ok(Found::Deleted { digest_hex }),
            LimiterAnswer::Record { record: Some(record), .. } if &record.project == project && &record.id == id => {
                Ok(Found::Live { digest_hex, record })
            }
            LimiterAnswer::Record { record: Some(_), .. } => Err(Error::KeyNotFound),
            // Only KV knows the key (written there by hand): its copy stands until an admin write adopts it.
            LimiterAnswer::Record { record: None, .. } => {
                kv_record.map(|record| Found::Live { digest_hex, record }).ok_or(Error::KeyNotFound)
            }
            _ => Err(out_of_protocol()),
        }
    }

    /// The digest hex and authoritative record of a key that is not deleted.
    async fn find_live(&self, project: &ProjectId, id: &KeyId) -> Result<(String, KeyRecord), Error> {
        match self.find(project, id).await? {
            Found::Live { digest_hex, record } => Ok((digest_hex, record)),
            Found::Deleted { .. } => Err(Error::KeyNotFound),
        }
    }

    /// A live key this principal may write, at the version `precondition` names if any.
    async fn find_writable(
        &self,
        project: &ProjectId,
        id: &KeyId,
        principal: &Principal,
        precondition: Option<&Precondition>,
    ) -> Result<(String, KeyRecord), Error> {
        let (digest_hex, record) = self.find_live(project, id).await?;
        if let Some(precondition) = precondition {
            precondition.holds_for(&record)?;
        }
        principal.may_touch(&record)?;
        Ok((digest_hex, record))
    }

    /// The version a write of `record` gets: strictly increasing, since the
    /// key's object tells stale copies and stale writers apart by it.
    fn next_version(&self, record: &KeyRecord) -> UnixMillis {
        self.now.max(record.updated_at + 1)
    }

    /// Writes `record` if its object still holds version `expected` (`None`:
    /// create): the object first (in force at once), then KV (the index).
    /// `Ok(false)` when another write got in first; a deleted key is not found.
    async fn put(&self, digest_hex: &str, record: &KeyRecord, expected: Option<UnixMillis>) -> Result<bool, Error> {
        let put = LimiterCall::Put { digest: digest_hex.to_owned(), record: record.clone(), expected };
        match self.limiter.call(&record.id, put).await? {
            LimiterAnswer::Done => self.keys.save(digest_hex, record).await.map(|()| true),
            LimiterAnswer::Conflict => Ok(false),
            LimiterAnswer::Gone => Err(Error::KeyNotFound),
            _ => Err(out_of_protocol()),
        }
    }

    async fn usage(&self, record: &KeyRecord) -> Result<Response, Error> {
        let LimiterAnswer::Usage { requests_today, last_used_at, rate } =
            self.limiter.call(&record.id, LimiterCall::Usage).await?
        else {
            return Err(out_of_protocol());
        };
        let policy = |status: PolicyStatus, now| json!({"limit": status.limit, "remaining": status.remaining, "reset": status.reset_at(now)});
        let ratelimit =
            rate.map(|rate| json!({"minute": policy(rate.minute, rate.now), "day": policy(rate.day, rate.now)}));
        Ok(Response::json(
            200,
            &json!({"requests_today": requests_today, "last_used_at": last_used_at.map(rfc3339), "ratelimit": ratelimit}),
        ))
    }

    async fn create(&self, project: &ProjectId, principal: &Principal, request: &Request) -> Result<Response, Error> {
        let record = new_record(self.config, project.clone(), parse_body(&request.body, false)?, self.now)?;
        principal.may_touch(&record)?;
        let (key, record) = self.issue(record).await?;
        Ok(key_answer(201, &record, Some(&key)))
    }

    /// Gives `template` a new id and secret and stores it; the secret is for the answer only.
    async fn issue(&self, mut record: KeyRecord) -> Result<(ApiKey, KeyRecord), Error> {
        let randomness = |e: getrandom::Error| Error::Unavailable(format!("no randomness: {e}"));
        let key = ApiKey::generate(record.environment).map_err(randomness)?;
        record.id = KeyId::generate().map_err(randomness)?;
        record.prefix = key.display_prefix();
        if !self.put(&key.digest().to_hex(), &record, None).await? {
            return Err(Error::Unavailable("a new key id was already taken".into()));
        }
        Ok((key, record))
    }

    async fn list(&self, project: &ProjectId, request: &Request) -> Result<Response, Error> {
        let limit = match request.query_param("limit") {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| Error::validation("limit", "Must be an integer from 1 to 100."))?,
        };
        let cursor = request.query_param("cursor").filter(|c| !c.is_empty());
        let (summaries, next) = self.keys.list(project, limit, cursor).await?;
        let keys: Vec<Value> = summaries.iter().map(|summary| summary.to_json()).collect();
        Ok(Response::json(200, &json!({ "keys": keys, "cursor": next })))
    }

    /// A compare-and-set on the version read: a write that another got ahead
    /// of is read and applied again (or 412 with `If-Match`), so none is lost.
    async fn update(
        &self,
        project: &ProjectId,
        id: &KeyId,
        principal: &Principal,
        precondition: Option<Precondition>,
        request: &Request,
    ) -> Result<Response, Error> {
        let body: PatchKey = parse_body(&request.body, false)?;
        for _ in 0..WRITE_ATTEMPTS {
            let (digest_hex, before) = self.find_writable(project, id, principal, precondition.as_ref()).await?;
            let mut after = before.clone();
            apply_patch(self.config, &body, principal, &mut after, self.now)?;
            principal.may_change(&before, &after)?;
            after.updated_at = self.next_version(&before);
            if self.put(&digest_hex, &after, Some(before.updated_at)).await? {
                return Ok(key_answer(200, &after, None));
            }
            if precondition.is_some() {
                return Err(Error::PreconditionFailed);
            }
        }
        Err(Error::Unavailable(format!("key {id} kept changing during {WRITE_ATTEMPTS} attempts")))
    }

    /// Deletes the key. A key acting as admin deletes only the version it
    /// judged (another write may have made the key untouchable), as does
    /// `If-Match`; the admin token's plain DELETE is unconditional. A key
    /// already deleted in its object, whose KV entries a failed attempt left
    /// behind, is cleaned up: a retried DELETE finishes the job.
    async fn delete(
        &self,
        project: &ProjectId,
        id: &KeyId,
        principal: &Principal,
        precondition: Option<Precondition>,
    ) -> Result<Response, Error> {
        for _ in 0..WRITE_ATTEMPTS {
            let (digest_hex, record) = match self.find(project, id).await? {
                Found::Deleted { digest_hex } => {
                    self.keys.remove(&digest_hex, project, id).await?;
                    return Ok(Response::no_content());
                }
                Found::Live { digest_hex, record } => (digest_hex, record),
            };
            if let Some(precondition) = &precondition {
                precondition.holds_for(&record)?;
            }
            principal.may_touch(&record)?;
            let conditional = precondition.is_some() || matches!(principal, Principal::Key(_));
            let expected = conditional.then_some(record.updated_at);
            match self.limiter.call(id, LimiterCall::Delete { expected }).await? {
                LimiterAnswer::Done | LimiterAnswer::Gone => {}
                LimiterAnswer::Conflict if precondition.is_some() => return Err(Error::PreconditionFailed),
                LimiterAnswer::Conflict => continue,
                _ => return Err(out_of_protocol()),
            }
            self.keys.remove(&digest_hex, project, id).await?;
            return Ok(Response::no_content());
        }
        Err(Error::Unavailable(format!("key {id} kept changing during {WRITE_ATTEMPTS} attempts")))
    }

    /// A new key that is the old one with a new id and secret; the old one
    /// expires after the grace. The new key is stored first, so a failure
    /// leaves the old one working; if the old one changed meanwhile, the new
    /// one (whose secret nobody has seen) is deleted again and the rotation
    /// starts over from the changed key, or stops if it was deleted.
    async fn rotate(
        &self,
        project: &ProjectId,
        id: &KeyId,
        principal: &Principal,
        precondition: Option<Precondition>,
        request: &Request,
    ) -> Result<Response, Error> {
        let grace_seconds = parse_body::<RotateKey>(&request.body, true)?.grace_seconds()?;
        for _ in 0..WRITE_ATTEMPTS {
            let (digest_hex, old) = self.find_writable(project, id, principal, precondition.as_ref()).await?;
            if let Some(successor) = &old.rotated_to {
                return Err(Error::AlreadyRotated { successor: successor.clone() });
            }
            let mut new = old.clone();
            new.rotated_from = Some(old.id.clone());
            new.created_at = self.now;
            new.updated_at = self.now;
            principal.may_touch(&new)?;
            let (key, new) = self.issue(new).await?;
            let mut retired = old.clone();
            let grace_end = self.now + grace_seconds as i64 * 1000;
            retired.expires_at = Some(old.expires_at.map_or(grace_end, |at| at.min(grace_end)));
            retired.rotated_to = Some(new.id.clone());
            retired.updated_at = self.next_version(&old);
            let retired_now = match self.put(&digest_hex, &retired, Some(old.updated_at)).await {
                Err(Error::KeyNotFound) => None,
                written => Some(written?),
            };
            if retired_now == Some(true) {
                return Ok(key_answer(201, &new, Some(&key)));
            }
            self.discard(&key, &new).await?;
            match retired_now {
                None => return Err(Error::KeyNotFound),
                Some(_) if precondition.is_some() => return Err(Error::PreconditionFailed),
                Some(_) => {}
            }
        }
        Err(Error::Unavailable(format!("key {id} kept changing during {WRITE_ATTEMPTS} attempts")))
    }

    /// Deletes a key made by a rotation that did not complete.
    async fn discard(&self, key: &ApiKey, record: &KeyRecord) -> Result<(), Error> {
        self.limiter.call(&record.id, LimiterCall::Delete { expected: None }).await?;
        self.keys.remove(&key.digest().to_hex(), &record.project, &record.id).await
    }
}

/// Compares secrets in constant time, hiding their lengths too.
fn same_secret(presented: &str, expected: &str) -> bool {
    Sha256::digest(presented.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes())).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_value_only() {
        assert!(same_secret("0123456789abcdef", "0123456789abcdef"));
        assert!(!same_secret("0123456789abcdef", "0123456789abcdeF"));
        assert!(!same_secret("", "0123456789abcdef"));
    }
}
