//! `POST /v1/projects/{project}/keys/{id}/reveal`: the secret of a
//! recoverable key, opened with `VAULT_KEY`, for the admin token alone.
//!
//! Guarantees: a secret is shown only with its `key.revealed` audit event
//! queued in the key's object first (in the same write as the answer it
//! gives); a key that is deleted is not found; a key whose secret was not
//! kept is 409 `KEY_NOT_RECOVERABLE`; a vault key that is missing or does
//! not open the secret is 503 `VAULT_UNAVAILABLE` (never a 500, never the
//! sealed secret). The sealed secret travels only in the object's answer to
//! this call, and the secret only in this route's answer (`no-store`).

use serde::Deserialize;
use serde_json::json;

use super::author::Author;
use crate::app::bodies::parse_body;
use crate::app::http::{Request, Response};
use crate::app::limiter::{out_of_protocol, Limiter};
use crate::app::principal::Principal;
use crate::app::projects::Projects;
use crate::app::store::KeyValueStore;
use crate::app::Context;
use crate::error::Error;
use crate::ids::{KeyId, ProjectId};
use crate::keystate::{LimiterAnswer, LimiterCall};
use crate::project::{Action, CatalogChange};
use crate::vault::VaultError;

/// A reveal takes no fields (an empty body or `{}`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

const NO_VAULT: &str = "VAULT_KEY is not set: this deployment cannot open recoverable secrets.";
const VAULT_KEY_MISSING: &str =
    "The vault key that sealed this secret is not in VAULT_KEY: keep the older key in its array after a rotation.";
const DOES_NOT_OPEN: &str = "VAULT_KEY does not open this key's sealed secret (a wrong vault key, or damaged storage).";

impl<S: KeyValueStore, L: Limiter + Projects, O> Context<'_, S, L, O> {
    /// Reveals the secret of the key `id` (the caller is the admin token).
    pub(super) async fn reveal(&self, project: &ProjectId, id: &str, request: &Request) -> Result<Response, Error> {
        parse_body::<NoFields>(&request.body, true)?;
        let id = &KeyId::parse(id).map_err(|_| Error::KeyNotFound)?;
        let found = self.find_live(project, id).await?;
        if !found.record.recoverable {
            return Err(Error::KeyNotRecoverable);
        }
        let vault = self.config.vault.as_ref().ok_or(Error::VaultUnavailable(NO_VAULT))?;
        let author = Author::of(&Principal::Root, request)?;
        let entry = author.entry(project, CatalogChange::Unchanged, Some((Action::KeyRevealed, id, self.now)))?;
        let call = LimiterCall::Reveal { vault_keys: vault.key_ids(), entry: entry.clone() };
        let sealed = match self.limiter.call(id, call).await? {
            LimiterAnswer::Sealed { sealed } => sealed,
            LimiterAnswer::Gone => return Err(Error::KeyNotFound),
            LimiterAnswer::NotRecoverable => return Err(Error::KeyNotRecoverable),
            LimiterAnswer::VaultKeyMissing => return Err(Error::VaultUnavailable(VAULT_KEY_MISSING)),
            _ => return Err(out_of_protocol()),
        };
        // The event is queued already: a reveal that fails now was still attempted.
        self.deliver(project, vec![entry]).await;
        let secret = vault.open(id.as_str(), &sealed).map_err(|error| match error {
            VaultError::KeyMissing => Error::VaultUnavailable(VAULT_KEY_MISSING),
            VaultError::DoesNotOpen => Error::VaultUnavailable(DOES_NOT_OPEN),
        })?;
        Ok(Response::json(200, &json!({ "key": secret })))
    }
}
