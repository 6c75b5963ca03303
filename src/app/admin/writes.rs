//! Admin writes. Each goes to the key's object first, as a compare-and-set
//! on the version it read, carrying its catalog change and audit event
//! (queued there, in the outbox, with the write itself); then to KV; then
//! straight to the project's object, which the outbox backs up.
//!
//! Guarantees: concurrent writes are never lost (a write that another got
//! ahead of is read and applied again, or 412 with `If-Match`); a deleted key
//! stays deleted; a 2xx answer means the change is enforced and its audit
//! event recorded or durably queued.
//!
//! Credits: a write that gives a key credits sets its balance in the same
//! object call as the record; one that does not mention them keeps the
//! balance. A rotation moves the balance: the successor is issued with none,
//! the old key's retirement empties its balance and answers what it held,
//! and the successor (whose secret nobody has seen yet) gets that.

use super::author::{randomness, Author};
use super::reads::{Found, LiveKey};
use super::{key_answer, Precondition};
use crate::app::bodies::{apply_patch, new_record, parse_body, ChangeCredits, PatchKey, RotateKey};
use crate::app::http::{Request, Response};
use crate::app::limiter::{out_of_protocol, Limiter};
use crate::app::principal::Principal;
use crate::app::projects::Projects;
use crate::app::store::KeyValueStore;
use crate::app::Context;
use serde_json::Value;

use crate::credits::Balance;
use crate::credits::Credits;
use crate::error::Error;
use crate::ids::{KeyId, ProjectId};
use crate::key::ApiKey;
use crate::keystate::{CreditOp, LimiterAnswer, LimiterCall};
use crate::project::audit::new_event_id;
use crate::project::{Action, CatalogChange, OutboxEntry, ProjectCall};
use crate::record::{KeyRecord, UnixMillis};

/// Adds `credits` (`from` → `to`, as the key object shows them) to `entry`'s
/// audit event when they differ: the record alone does not hold the balance.
fn note_credits(entry: &mut OutboxEntry, from: Value, to: Value) {
    if let (Some(changes), false) = (entry.event.as_mut().and_then(|event| event.changes.as_mut()), from == to) {
        changes.insert("credits".into(), serde_json::json!({ "from": from, "to": to }));
    }
}

/// A write the key's object took: the balance it replaced, when the write set one.
pub(super) struct Written {
    replaced: Option<u64>,
}

/// How many times a write without `If-Match` reads and applies itself again
/// when another write got in first. Each retry means another write to the
/// same key succeeded, so this bounds the concurrent writers a write outlasts.
pub(super) const WRITE_ATTEMPTS: usize = 32;
/// A write that lost the race [`WRITE_ATTEMPTS`] times in a row.
fn kept_changing(id: &KeyId) -> Error {
    Error::Unavailable(format!("key {id} kept changing during {WRITE_ATTEMPTS} attempts"))
}

impl<S: KeyValueStore, L: Limiter + Projects, O> Context<'_, S, L, O> {
    /// A live key this principal may write, at the version `precondition` names if any.
    async fn find_writable(
        &self,
        project: &ProjectId,
        id: &KeyId,
        principal: &Principal,
        precondition: Option<&Precondition>,
    ) -> Result<LiveKey, Error> {
        let found = self.find_live(project, id).await?;
        principal.may_read(&found.record)?;
        if let Some(precondition) = precondition {
            precondition.holds_for(&found.record)?;
        }
        principal.may_touch(&found.record)?;
        Ok(found)
    }

    /// The version a write of `record` gets: strictly increasing, since the
    /// key's object tells stale copies and stale writers apart by it.
    pub(super) fn next_version(&self, record: &KeyRecord) -> UnixMillis {
        self.now.max(record.updated_at + 1)
    }

    /// Writes `record` with `entry` (and `balance`, when given) if its object
    /// still holds version `expected` (`None`: create): the object first (in
    /// force at once), then KV. `Ok(None)` when another write got in first,
    /// else the balance a given `balance` replaced; a deleted key is not
    /// found. Once the object took a change to an existing key, KV is only
    /// the index: the object judges every use on its own record, so a KV
    /// failure then is no reason to tell the writer its change failed.
    // Each argument is a field of the one object call it makes.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn put(
        &self,
        digest_hex: &str,
        record: &KeyRecord,
        expected: Option<UnixMillis>,
        entry: &OutboxEntry,
        balance: Option<u64>,
        lower_only: bool,
        sealed: Option<crate::vault::Sealed>,
    ) -> Result<Option<Written>, Error> {
        let put = LimiterCall::Put {
            digest: digest_hex.to_owned(),
            record: record.clone(),
            expected,
            entry: Some(entry.clone()),
            balance,
            lower_only,
            sealed,
        };
        let written = match self.limiter.call(&record.id, put).await? {
            LimiterAnswer::Done => Written { replaced: None },
            LimiterAnswer::Replaced { remaining } => Written { replaced: Some(remaining) },
            LimiterAnswer::Conflict => return Ok(None),
            LimiterAnswer::Gone => return Err(Error::KeyNotFound),
            _ => return Err(out_of_protocol()),
        };
        match expected {
            Some(_) => {
                let _ = self.keys.save(digest_hex, record).await;
            }
            None => self.keys.save(digest_hex, record).await?,
        }
        Ok(Some(written))
    }

    /// Sets the balance of `record`'s key (which has credits) with no audit
    /// event: a successor taking over its predecessor's credits.
    async fn hand_over_credits(&self, record: &KeyRecord, remaining: u64) -> Result<(), Error> {
        let call = LimiterCall::Credits { change: CreditOp::Set, amount: remaining, entry: None };
        match self.limiter.call(&record.id, call).await? {
            LimiterAnswer::Credits { .. } => Ok(()),
            LimiterAnswer::Gone => Err(Error::KeyNotFound),
            _ => Err(out_of_protocol()),
        }
    }

    /// `POST …/keys/{id}/credits`: `set`, `increment` or `decrement` (down to
    /// 0) the balance, atomically in the key's object, audited as
    /// `key.credits_updated`. A key acting as admin may only decrement.
    pub(super) async fn change_credits(
        &self,
        project: &ProjectId,
        id: &KeyId,
        principal: &Principal,
        request: &Request,
    ) -> Result<Response, Error> {
        let author = Author::of(principal, request)?;
        let body: ChangeCredits = parse_body(&request.body, false)?;
        if matches!(principal, Principal::Key(..)) && body.op != CreditOp::Decrement {
            let message = "A key may only decrement credits; only the admin token sets or increments them.";
            return Err(Error::Exceeds { field: "credits", message: message.into() });
        }
        let found = self.find_writable(project, id, principal, None).await?;
        if found.record.credits.is_none() {
            return Err(Error::NoCredits);
        }
        let action = (Action::KeyCreditsUpdated, id, self.now);
        let mut entry = author.entry(project, CatalogChange::Unchanged, Some(action))?;
        let call = LimiterCall::Credits { change: body.op, amount: body.amount.0, entry: Some(entry.clone()) };
        let (from, to) = match self.limiter.call(id, call).await? {
            LimiterAnswer::Credits { from, to } => (from, to),
            LimiterAnswer::Gone => return Err(Error::KeyNotFound),
            LimiterAnswer::NoCredits => return Err(Error::NoCredits),
            _ => return Err(out_of_protocol()),
        };
        // The same event as the object queued (which filled in the change).
        if let Some(event) = &mut entry.event {
            event.changes = Some(crate::keystate::credits_change(from, to));
        }
        self.deliver(project, vec![entry]).await;
        Ok(Response::json(200, &serde_json::json!({ "remaining": to })))
    }

    /// Hands `entries` to the project's object now, so the next listing shows
    /// them. A failure is not the writer's: the keys' outboxes deliver later.
    pub(super) async fn deliver(&self, project: &ProjectId, entries: Vec<OutboxEntry>) {
        let call = ProjectCall::Apply { project: project.clone(), entries, usage: None };
        if let Ok(answer) = self.limiter.project(project, call).await {
            // The directory of projects catches up on the next write if this fails.
            let _ = self.record_project_keys(project, &answer).await;
        }
    }

    pub(super) async fn create(
        &self,
        project: &ProjectId,
        principal: &Principal,
        request: &Request,
    ) -> Result<Response, Error> {
        let author = Author::of(principal, request)?;
        let (mut record, balance) =
            new_record(self.config, project.clone(), parse_body(&request.body, false)?, self.now)?;
        principal.lend_owner(&mut record);
        principal.may_touch(&record)?;
        principal.may_assign_owner(None, &record)?;
        principal.may_give_credits(None, record.credits.zip(balance))?;
        let given = balance.map(|remaining| Balance::set(remaining, self.now));
        let entry_of = |record: &KeyRecord| {
            let mut entry = author.upsert(Some(Action::KeyCreated), None, record)?;
            note_credits(&mut entry, Value::Null, record.credits_json(given.as_ref(), self.now));
            Ok(entry)
        };
        let (key, record, entry) = self.issue(record, balance, entry_of).await?;
        self.deliver(project, vec![entry]).await;
        Ok(key_answer(201, &record, None, given.as_ref(), Some(&key), self.now))
    }

    /// Gives `record` a new id and secret and stores it with the entry
    /// `entry_of` makes; the secret is for the answer only (and, sealed, for
    /// the key's object when `record` is recoverable).
    async fn issue(
        &self,
        mut record: KeyRecord,
        balance: Option<u64>,
        entry_of: impl Fn(&KeyRecord) -> Result<OutboxEntry, Error>,
    ) -> Result<(ApiKey, KeyRecord, OutboxEntry), Error> {
        let key = ApiKey::generate(record.environment, &self.config.key_prefixes).map_err(randomness)?;
        record.id = KeyId::generate().map_err(randomness)?;
        record.prefix = key.display_prefix();
        let entry = entry_of(&record)?;
        let sealed = match (&self.config.vault, record.recoverable) {
            (Some(vault), true) => Some(vault.seal(record.id.as_str(), key.expose()).map_err(randomness)?),
            (None, true) => return Err(Error::validation("recoverable", "VAULT_KEY is not set.")),
            (_, false) => None,
        };
        match self.put(&key.digest().to_hex(), &record, None, &entry, balance, false, sealed).await {
            Ok(Some(_)) => Ok((key, record, entry)),
            Ok(None) => Err(Error::Unavailable("a new key id was already taken".into())),
            // Without its KV record the key could never be used: it must not be listed either.
            Err(error) => {
                self.discard(&key, &record).await?;
                Err(error)
            }
        }
    }

    pub(super) async fn update(
        &self,
        project: &ProjectId,
        id: &KeyId,
        principal: &Principal,
        precondition: Option<Precondition>,
        request: &Request,
    ) -> Result<Response, Error> {
        let author = Author::of(principal, request)?;
        let body: PatchKey = parse_body(&request.body, false)?;
        for _ in 0..WRITE_ATTEMPTS {
            let found = self.find_writable(project, id, principal, precondition.as_ref()).await?;
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
            if precondition.is_some() {
                return Err(Error::PreconditionFailed);
            }
        }
        Err(kept_changing(id))
    }

    /// A pointer an older version wrote goes once the key's object holds the
    /// key (it may have adopted it earlier, on a verification, unseen here).
    pub(super) async fn forget_pointer(&self, found: &LiveKey) {
        // Harmless if it fails: the object answers first from now on.
        let _ = self.keys.drop_pointer(&found.record.project, &found.record.id).await;
    }

    /// Deletes the key. A key acting as admin deletes only the version it
    /// judged (another write may have made the key untouchable), as does
    /// `If-Match`; the admin token's plain DELETE is unconditional. A key
    /// already deleted in its object, whose KV entries a failed attempt left
    /// behind, is cleaned up: a retried DELETE finishes the job.
    pub(super) async fn delete(
        &self,
        project: &ProjectId,
        id: &KeyId,
        principal: &Principal,
        precondition: Option<Precondition>,
        request: &Request,
    ) -> Result<Response, Error> {
        let author = Author::of(principal, request)?;
        self.delete_by(project, id, principal, precondition, &author).await
    }

    /// [`delete`](Self::delete), its audit event naming `author`.
    pub(super) async fn delete_by(
        &self,
        project: &ProjectId,
        id: &KeyId,
        principal: &Principal,
        precondition: Option<Precondition>,
        author: &Author,
    ) -> Result<Response, Error> {
        for _ in 0..WRITE_ATTEMPTS {
            let found = match self.find(project, id).await? {
                // What a half-failed deletion left in KV is cleaned up (and any
                // catalog row imported from it), by whoever may touch that key in
                // this project; else it is gone.
                Found::Deleted { digest_hex: Some(digest_hex) } => {
                    let left = self.keys.record_at(&digest_hex).await?;
                    let Some(left) = left.filter(|left| &left.project == project && &left.id == id) else {
                        return Err(Error::KeyNotFound);
                    };
                    principal.may_read(&left)?;
                    principal.may_touch(&left)?;
                    self.keys.remove(Some(&digest_hex), project, id).await?;
                    let change = CatalogChange::Remove { key_id: id.clone(), version: self.now };
                    self.deliver(project, vec![author.entry(project, change, None)?]).await;
                    return Ok(Response::no_content());
                }
                Found::Deleted { digest_hex: None } => return Err(Error::KeyNotFound),
                Found::Live(found) => found,
            };
            principal.may_read(&found.record)?;
            if let Some(precondition) = &precondition {
                precondition.holds_for(&found.record)?;
            }
            principal.may_touch(&found.record)?;
            let conditional = precondition.is_some() || matches!(principal, Principal::Key(..));
            let expected = conditional.then_some(found.record.updated_at);
            let version = self.next_version(&found.record);
            let change = CatalogChange::Remove { key_id: id.clone(), version };
            let entry = author.entry(project, change, Some((Action::KeyDeleted, id, version)))?;
            let delete = LimiterCall::Delete { expected, entry: Some(entry.clone()) };
            let ours = match self.limiter.call(id, delete).await? {
                LimiterAnswer::Done => true,
                // Another DELETE won: its event is the one; this one just finishes the cleanup.
                LimiterAnswer::Gone => false,
                LimiterAnswer::Conflict if precondition.is_some() => return Err(Error::PreconditionFailed),
                LimiterAnswer::Conflict => continue,
                _ => return Err(out_of_protocol()),
            };
            self.keys.remove(Some(&found.digest_hex), project, id).await?;
            if ours {
                self.deliver(project, vec![entry]).await;
            }
            return Ok(Response::no_content());
        }
        Err(kept_changing(id))
    }

    /// A new key that is the old one with a new id and secret; the old one
    /// expires after the grace and names its successor. The new key is stored
    /// first, so a failure leaves the old one working; if the old one changed
    /// meanwhile, the new one (whose secret nobody has seen) is deleted again
    /// and the rotation starts over from the changed key, or stops if it was
    /// deleted or rotated.
    pub(super) async fn rotate(
        &self,
        project: &ProjectId,
        id: &KeyId,
        principal: &Principal,
        precondition: Option<Precondition>,
        request: &Request,
    ) -> Result<Response, Error> {
        let author = Author::of(principal, request)?;
        let body = parse_body::<RotateKey>(&request.body, true)?;
        let (grace_seconds, recoverable) = (body.grace_seconds()?, body.recoverable(self.config)?);
        for _ in 0..WRITE_ATTEMPTS {
            let found = self.find_writable(project, id, principal, precondition.as_ref()).await?;
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
                Some(None) if precondition.is_some() => return Err(Error::PreconditionFailed),
                Some(_) => {}
            }
        }
        Err(kept_changing(id))
    }

    /// Deletes a key whose creation (or rotation) did not complete, with what
    /// it queued: nobody saw its secret, so no listing or audit event shows it.
    async fn discard(&self, key: &ApiKey, record: &KeyRecord) -> Result<(), Error> {
        let change = CatalogChange::Remove { key_id: record.id.clone(), version: self.next_version(record) };
        let entry = OutboxEntry {
            id: new_event_id().map_err(randomness)?,
            project: record.project.clone(),
            change,
            event: None,
            notice: None,
        };
        self.limiter.call(&record.id, LimiterCall::Discard { entry: Some(entry.clone()) }).await?;
        self.keys.remove(Some(&key.digest().to_hex()), &record.project, &record.id).await?;
        self.deliver(&record.project, vec![entry]).await;
        Ok(())
    }
}
