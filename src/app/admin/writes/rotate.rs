//! `POST …/keys/{id}/rotate`: a successor with a new secret, the old key retired after a grace.

use super::{kept_changing, Written, WRITE_ATTEMPTS};
use crate::app::admin::author::Author;
use crate::app::admin::{key_answer, Target};
use crate::app::bodies::{parse_body, RotateKey};
use crate::app::http::{Request, Response};
use crate::app::limiter::Limiter;
use crate::app::projects::Projects;
use crate::app::store::KeyValueStore;
use crate::app::Context;
use crate::credits::{Balance, Credits};
use crate::error::Error;
use crate::project::Action;

impl<S: KeyValueStore, L: Limiter + Projects, O> Context<'_, S, L, O> {
    /// A new key that is the old one with a new id and secret; the old one
    /// expires after the grace and names its successor. The new key is stored
    /// first, so a failure leaves the old one working; if the old one changed
    /// meanwhile, the new one (whose secret nobody has seen) is deleted again
    /// and the rotation starts over from the changed key, or stops if it was
    /// deleted or rotated.
    pub(in super::super) async fn rotate(&self, target: &Target<'_>, request: &Request) -> Result<Response, Error> {
        let Target { project, id, principal, .. } = *target;
        let author = Author::of(principal, request)?;
        let body = parse_body::<RotateKey>(&request.body, true)?;
        let (grace_seconds, recoverable) = (body.grace_seconds()?, body.recoverable(self.config)?);
        for _ in 0..WRITE_ATTEMPTS {
            let found = self.find_writable(target).await?;
            let old = &found.record;
            if let Some(successor) = &old.rotated_to {
                return Err(Error::AlreadyRotated { successor: successor.clone() });
            }
            let mut new = old.clone();
            new.rotated_from = Some(old.id.clone());
            // The successor's secret is new: whatever leaked was the old one's.
            new.leaked = None;
            // Kept only if asked; the old secret is never carried over.
            new.recoverable = recoverable;
            new.created_at = self.now;
            new.updated_at = self.now;
            principal.may_touch(&new)?;
            // Whoever rotates holds the new secret.
            principal.may_take_over(found.credits_held())?;
            // The new key's row comes without an event: the rotation is one event, on the old key.
            // Its balance is the old key's, handed over once the old one is retired.
            let empty = old.credits.map(|_| 0);
            let (key, new, new_entry) = self.issue(new, empty, |record| author.upsert(None, None, record)).await?;
            let mut retired = old.clone();
            // Its balance goes to the successor, and no refill brings it back during the grace.
            retired.credits = old.credits.map(|_| Credits { refill: None });
            let grace_end = self.now + grace_seconds as i64 * 1000;
            retired.expires_at = Some(old.expires_at.map_or(grace_end, |at| at.min(grace_end)));
            retired.rotated_to = Some(new.id.clone());
            // A retired key cannot be revealed: its sealed secret goes with this write.
            retired.recoverable = false;
            retired.updated_at = self.next_version(old);
            let entry = author.upsert(Some(Action::KeyRotated), Some(old), &retired)?;
            let retired_now =
                match self.put(&found.digest_hex, &retired, Some(old.updated_at), &entry, empty, false, None).await {
                    Ok(written) => Some(written),
                    Err(Error::KeyNotFound) => None,
                    // The old key's object may have taken the change and failed to
                    // answer: asked again, it says whether the successor is in force
                    // (what balance it held is then unknown: the successor keeps none).
                    Err(error) => match self.find_live(project, id).await {
                        Ok(now) if now.record.rotated_to.as_ref() == Some(&new.id) => {
                            Some(Some(Written { replaced: None }))
                        }
                        Ok(_) | Err(Error::KeyNotFound) => {
                            self.discard(&key, &new).await?;
                            return Err(error);
                        }
                        // Unknown twice over: the successor may stay, its secret in no answer.
                        Err(_) => return Err(error),
                    },
                };
            if let Some(Some(written)) = retired_now {
                let balance = match (new.credits, written.replaced) {
                    (Some(_), Some(remaining)) => {
                        // The new secret is in no answer yet: the handover has to succeed
                        // before it is shown, else the new key starts with no credits.
                        let handed = self.hand_over_credits(&new, remaining).await.is_ok();
                        Some(Balance::set(if handed { remaining } else { 0 }, self.now))
                    }
                    (Some(_), None) => Some(Balance::set(0, self.now)),
                    (None, _) => None,
                };
                self.forget_pointer(&found).await;
                self.deliver(project, vec![new_entry, entry]).await;
                return Ok(key_answer(201, &new, None, balance.as_ref(), Some(&key), self.now));
            }
            self.discard(&key, &new).await?;
            match retired_now {
                None => return Err(Error::KeyNotFound),
                Some(None) if target.precondition.is_some() => return Err(Error::PreconditionFailed),
                Some(_) => {}
            }
        }
        Err(kept_changing(id))
    }
}
