//! What a leak report does to a key: marks it `leaked` and applies
//! `LEAKED_KEY_ACTION`, through the same compare-and-set path as an admin
//! change, so it is in force on the key's next request.
//!
//! Guarantees: only the key whose secret was reported is touched (its object
//! holds that digest, or only KV knows the key, as a first use would find
//! it); every report leaves the key as `LEAKED_KEY_ACTION` says (a key
//! re-activated, or flagged under `report`, is disabled by the next report
//! under `disable`); `leaked` names the latest place; a replayed report (the
//! same place, nothing left to do) adds no event; the audit events name the
//! secret-scanning provider as their actor.

use super::author::Author;
use super::writes::WRITE_ATTEMPTS;
use super::Target;
use crate::app::http::Request;
use crate::app::limiter::Limiter;
use crate::app::principal::Principal;
use crate::app::projects::Projects;
use crate::app::store::KeyValueStore;
use crate::app::Context;
use crate::config::LeakAction;
use crate::error::Error;
use crate::key::ApiKey;
use crate::project::{Action, Actor};
use crate::record::{KeyStatus, Leak};

impl<S: KeyValueStore, L: Limiter + Projects, O> Context<'_, S, L, O> {
    /// Neutralises the key whose secret is `key`, reported by `provider` in
    /// `request`; whether it is a key of this deployment that exists (GitHub's
    /// `true_positive`).
    pub async fn report_leak(
        &self,
        key: &ApiKey,
        leak: Leak,
        provider: &str,
        request: &Request,
    ) -> Result<bool, Error> {
        let digest_hex = key.digest().to_hex();
        let author = Author::acting(Actor::SecretScanning { provider: provider.to_owned() }, request)?;
        let action = self.config.leaked_key_action;
        for _ in 0..WRITE_ATTEMPTS {
            let Some(found) = self.find_by_digest(&digest_hex).await? else { return Ok(false) };
            let before = &found.record;
            let (project, id) = (&before.project, &before.id);
            // Off as the admin token turns keys off: a key may not turn it back on.
            let off_for_keys = before.status == KeyStatus::Inactive && before.disabled_by_admin;
            let disables = action == LeakAction::Disable && !off_for_keys;
            let known = before.leaked.as_ref().is_some_and(|held| held.url == leak.url && held.source == leak.source);
            // A new place, or a key still active that `disable` must stop: a replay changes nothing.
            if !known || disables {
                let mut after = before.clone();
                after.leaked = Some(leak.clone());
                if disables {
                    Principal::Root.set_status(&mut after, KeyStatus::Inactive);
                }
                after.updated_at = self.next_version(before);
                let entry = author.upsert(Some(Action::KeyLeaked), Some(before), &after)?;
                if self
                    .put(&found.digest_hex, &after, Some(before.updated_at), &entry, None, false, None)
                    .await?
                    .is_none()
                {
                    continue;
                }
                self.forget_pointer(&found).await;
                self.deliver(project, vec![entry]).await;
            }
            if action == LeakAction::Delete {
                match self
                    .delete_by(&Target { project, id, principal: &Principal::Root, precondition: None }, &author)
                    .await
                {
                    Ok(_) | Err(Error::KeyNotFound) => {}
                    Err(error) => return Err(error),
                }
            }
            return Ok(true);
        }
        Err(Error::Unavailable(format!("a reported key kept changing during {WRITE_ATTEMPTS} attempts")))
    }
}
