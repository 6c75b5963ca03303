//! `POST …/keys`: a new key; and issuing a key's id and secret (for rotation too), undone if it fails.

use serde_json::Value;

use super::note_credits;
use crate::app::admin::author::{randomness, Author};
use crate::app::admin::key_answer;
use crate::app::bodies::{new_record, parse_body};
use crate::app::http::{Request, Response};
use crate::app::limiter::Limiter;
use crate::app::principal::Principal;
use crate::app::projects::Projects;
use crate::app::store::KeyValueStore;
use crate::app::Context;
use crate::credits::Balance;
use crate::error::Error;
use crate::ids::{KeyId, ProjectId};
use crate::key::ApiKey;
use crate::keystate::LimiterCall;
use crate::project::audit::new_event_id;
use crate::project::{Action, CatalogChange, OutboxEntry};
use crate::record::KeyRecord;

impl<S: KeyValueStore, L: Limiter + Projects, O> Context<'_, S, L, O> {
    pub(in super::super) async fn create(
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
    pub(super) async fn issue(
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

    /// Deletes a key whose creation (or rotation) did not complete, with what
    /// it queued: nobody saw its secret, so no listing or audit event shows it.
    pub(super) async fn discard(&self, key: &ApiKey, record: &KeyRecord) -> Result<(), Error> {
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
