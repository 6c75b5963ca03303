//! The admin API: a project's keys (create, list, get, update, delete,
//! rotate), its audit log and usage, and the projects list.
//!
//! Guarantees: every field and query parameter is validated before anything
//! is written or read; a key acting as admin (`keys:read`/`keys:write`) works
//! in its own project only, within [`Principal`]'s rules; the projects list is
//! the admin token's alone. Secrets appear only in the answer that creates
//! them. Reads are in [`reads`], writes (with their audit events) in [`writes`].

mod author;
mod events;
mod leaks;
mod owners;
mod reads;
mod reveal;
mod writes;

use serde_json::json;

use crate::app::credential::Credential;
use crate::app::http::{Request, Response};
use crate::app::limiter::Limiter;
use crate::app::owners::Owners;
use crate::app::principal::Principal;
use crate::app::projects::Projects;
use crate::app::routes::Route;
use crate::app::store::KeyValueStore;
use crate::app::verify::{Decision, Requirement};
use crate::app::{Context, Trace};
use crate::credits::Balance;
use crate::error::Error;
use crate::ids::{KeyId, ProjectId};
use crate::key::ApiKey;
use crate::record::{rfc3339, KeyRecord, UnixMillis};
use crate::scope::Scope;
use crate::slug::{is_slug, First};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
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

/// An admin request on one key: its project and id, who makes it, and the
/// version it must find (`If-Match`, which only writes heed).
struct Target<'a> {
    project: &'a ProjectId,
    id: &'a KeyId,
    principal: &'a Principal,
    precondition: Option<Precondition>,
}

/// The key object with its `ETag`, `last_used_at` and, on create and rotate, the plaintext key.
fn key_answer(
    status: u16,
    record: &KeyRecord,
    last_used_at: Option<UnixMillis>,
    balance: Option<&Balance>,
    secret: Option<&ApiKey>,
    now: UnixMillis,
) -> Response {
    let mut body = key_json(record, last_used_at, balance, now);
    if let Some(key) = secret {
        body["key"] = json!(key.expose());
    }
    let mut response = Response::json(status, &body);
    response.headers.push(("etag".into(), record.etag()));
    response
}

/// The key object of the contract: the record's fields and its last use.
/// A key as the admin API shows it; `balance` from its object (`None`: `remaining` is `null`).
fn key_json(
    record: &KeyRecord,
    last_used_at: Option<UnixMillis>,
    balance: Option<&Balance>,
    now: UnixMillis,
) -> serde_json::Value {
    let mut body = record.to_json();
    body["last_used_at"] = json!(last_used_at.map(rfc3339));
    body["credits"] = record.credits_json(balance, now);
    body
}

/// A route's query parameters, each known to it and given once (decoded).
struct Params(Vec<(String, String)>);

impl Params {
    fn of(request: &Request, known: &[&str]) -> Result<Params, Error> {
        let pairs = request.query_pairs();
        for (index, (name, _)) in pairs.iter().enumerate() {
            // A name is echoed only when it is a plain identifier (it could be anything).
            let field = if is_slug(name, 32, First::Letter) { name.as_str() } else { "query" };
            if !known.contains(&name.as_str()) {
                return Err(Error::validation(field, "Unknown query parameter."));
            }
            if pairs[..index].iter().any(|(earlier, _)| earlier == name) {
                return Err(Error::validation(field, "Given more than once."));
            }
        }
        Ok(Params(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, value)| value.as_str())
    }
}

impl<S: KeyValueStore, L: Limiter + Projects + Owners, O> Context<'_, S, L, O> {
    /// Serves an admin route; `method` has been checked against the route already.
    pub async fn handle_admin(
        &self,
        route: Route<'_>,
        request: &Request,
        trace: &mut Trace<'_>,
    ) -> Result<Response, Error> {
        let (project, id) = match route {
            Route::Projects => {
                self.authenticate_root(request)?;
                return self.projects(request).await;
            }
            Route::Events { project } => {
                self.authenticate_root(request)?;
                return self.failed_events(&parse_project(project)?, request).await;
            }
            Route::RetryEvent { project, id } => {
                self.authenticate_root(request)?;
                return self.retry_event(&parse_project(project)?, id, request).await;
            }
            Route::Owner { project, owner_id } => {
                self.authenticate_root(request)?;
                return self.owner(&parse_project(project)?, owner_id, request).await;
            }
            Route::Reveal { project, id } => {
                self.authenticate_root(request)?;
                return self.reveal(&parse_project(project)?, id, request).await;
            }
            Route::Keys { project } | Route::Audit { project } | Route::ProjectUsage { project } => (project, None),
            Route::Key { project, id }
            | Route::Rotate { project, id }
            | Route::Credits { project, id }
            | Route::Usage { project, id } => (project, Some(id)),
            _ => return Err(Error::NotFound),
        };
        let project = &parse_project(project)?;
        let access = if request.method == "GET" { Access::Read } else { Access::Write };
        let principal = self.authenticate(request, project, access, trace).await?;
        let Some(id) = id else {
            return match (route, request.method.as_str()) {
                (Route::Keys { .. }, "POST") => self.create(project, &principal, request).await,
                (Route::Keys { .. }, _) => self.list(project, &principal, request).await,
                (Route::Audit { .. }, _) => {
                    principal.may_read_project()?;
                    self.audit(project, request).await
                }
                (_, _) => {
                    principal.may_read_project()?;
                    self.project_usage(project, request).await
                }
            };
        };
        let id = &KeyId::parse(id).map_err(|_| Error::KeyNotFound)?;
        let target = Target { project, id, principal: &principal, precondition: Precondition::of(request) };
        match (route, request.method.as_str()) {
            (Route::Key { .. }, "GET") => {
                let found = self.find_live(project, id).await?;
                principal.may_read(&found.record)?;
                Ok(key_answer(200, &found.record, found.last_used_at, found.balance.as_ref(), None, self.now))
            }
            (Route::Key { .. }, "PATCH") => self.update(&target, request).await,
            (Route::Key { .. }, _) => self.delete(&target, request).await,
            (Route::Rotate { .. }, _) => self.rotate(&target, request).await,
            (Route::Credits { .. }, _) => self.change_credits(&target, request).await,
            (Route::Usage { .. }, _) => self.usage(&target, request).await,
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
        let action = match access {
            Access::Read => "read",
            Access::Write => "write",
        };
        let requirement = Requirement {
            scope: Some(Scope::Action { resource: "keys".into(), action: action.into() }),
            project: Some(project.to_string()),
            cost: None,
            ip: request.client_ip(),
        };
        self.principal(request, &requirement, trace).await
    }

    fn is_admin_token(&self, credential: &Credential<'_>) -> bool {
        credential.is_admin_token(self.config)
    }

    /// The refusal of a bearer token that is neither the admin token nor a key.
    fn not_the_admin_token(&self) -> Error {
        Error::InvalidApiKey(match self.config.admin_token {
            Some(_) => "Invalid admin token.".into(),
            None => "Admin token authentication is off: ADMIN_TOKEN is not set.".into(),
        })
    }

    /// The admin token only. A key is refused (403) unverified, so the
    /// refusal neither spends its rate limit nor counts as a use.
    fn authenticate_root(&self, request: &Request) -> Result<(), Error> {
        let credential = Credential::of(request, self.config)?;
        if self.is_admin_token(&credential) {
            return Ok(());
        }
        if ApiKey::is_key_shaped(credential.value, &self.config.key_prefixes) {
            return Err(Error::AdminTokenRequired);
        }
        Err(self.not_the_admin_token())
    }

    async fn principal(
        &self,
        request: &Request,
        requirement: &Requirement,
        trace: &mut Trace<'_>,
    ) -> Result<Principal, Error> {
        let credential = Credential::of(request, self.config)?;
        // Compared first, so an ADMIN_TOKEN shaped like a key works too.
        if self.is_admin_token(&credential) {
            return Ok(Principal::Root);
        }
        if credential.bearer && !ApiKey::is_key_shaped(credential.value, &self.config.key_prefixes) {
            return Err(self.not_the_admin_token());
        }
        match trace.saw(self.verify(credential.value, requirement).await?).decision {
            Decision::Allow(grant) => Ok(Principal::Key(grant.record, grant.credits)),
            Decision::Deny(denial) => Err(denial),
        }
    }
}

fn parse_project(project: &str) -> Result<ProjectId, Error> {
    ProjectId::parse(project).map_err(|invalid| Error::validation("project", invalid.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_known_and_single() {
        let params = |query: &str| Params::of(&Request::new("GET", &format!("/x?{query}")), &["limit", "q"]);
        assert_eq!(params("q=a%20b+c").unwrap().get("q"), Some("a b c"));
        let field = |query: &str| match params(query) {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("{:?}", other.map(|p| p.0)),
        };
        assert_eq!(field("foo=1"), "foo");
        assert_eq!(field("limit=1&limit=2"), "limit");
        let key = "sk_live_2CVsBntPRWyM8ZKQJ4qEeXdvRatUBvw3Y9L1kIKoTnF";
        assert_eq!(field(&format!("{key}=1")), "query", "a name that is not an identifier is not echoed");
    }
}
