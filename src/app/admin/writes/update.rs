//! `PATCH …/keys/{id}`: a key's fields changed, read and applied again when another write got in first.

use super::{kept_changing, note_credits, WRITE_ATTEMPTS};
use crate::app::admin::author::Author;
use crate::app::admin::{key_answer, Target};
use crate::app::bodies::{apply_patch, parse_body, PatchKey};
use crate::app::http::{Request, Response};
use crate::app::limiter::Limiter;
use crate::app::principal::Principal;
use crate::app::projects::Projects;
use crate::app::store::KeyValueStore;
use crate::app::Context;
use crate::credits::Balance;
use crate::error::Error;
use crate::project::Action;

impl<S: KeyValueStore, L: Limiter + Projects, O> Context<'_, S, L, O> {
    pub(in super::super) async fn update(&self, target: &Target<'_>, request: &Request) -> Result<Response, Error> {
        let Target { project, id, principal, .. } = *target;
        let author = Author::of(principal, request)?;
        let body: PatchKey = parse_body(&request.body, false)?;
        for _ in 0..WRITE_ATTEMPTS {
            let found = self.find_writable(target).await?;
            let before = &found.record;
            let mut after = before.clone();
            let balance = apply_patch(self.config, &body, principal, &mut after, self.now)?;
            principal.may_change(before, &after)?;
            let held = after.credits.map(|credits| (credits, balance.unwrap_or(found.remaining())));
            principal.may_widen(before, &after, held)?;
            if body.mentions_credits() {
                principal.may_give_credits(Some(found.credits_held()), after.credits.zip(balance))?;
            }
            after.updated_at = self.next_version(before);
            let mut entry = author.upsert(Some(Action::KeyUpdated), Some(before), &after)?;
            if body.mentions_credits() {
                let given = balance.map(|remaining| Balance::set(remaining, self.now));
                let from = before.credits_json(found.balance.as_ref(), self.now);
                note_credits(&mut entry, from, after.credits_json(given.as_ref(), self.now));
            }
            let lower_only = matches!(principal, Principal::Key(..));
            if self
                .put(&found.digest_hex, &after, Some(before.updated_at), &entry, balance, lower_only, None)
                .await?
                .is_some()
            {
                self.forget_pointer(&found).await;
                self.deliver(project, vec![entry]).await;
                let balance = match balance {
                    Some(remaining) => Some(Balance::set(remaining, self.now)),
                    None => found.balance.filter(|_| after.credits.is_some()),
                };
                return Ok(key_answer(200, &after, found.last_used_at, balance.as_ref(), None, self.now));
            }
            if target.precondition.is_some() {
                return Err(Error::PreconditionFailed);
            }
        }
        Err(kept_changing(id))
    }
}
