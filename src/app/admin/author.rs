//! Who makes an admin write and where from: what its audit events say.

use crate::app::http::Request;
use crate::app::principal::Principal;
use crate::error::Error;
use crate::ids::{KeyId, OwnerId, ProjectId};
use crate::project::audit::{changes, new_event_id, new_request_id, RequestOrigin};
use crate::project::{Action, Actor, AuditEvent, CatalogChange, OutboxEntry};
use crate::record::{KeyRecord, UnixMillis};

/// The longest `User-Agent` an audit event keeps.
const MAX_USER_AGENT_CHARS: usize = 256;

/// Who makes a write and where from: what its audit events say.
pub(super) struct Author {
    actor: Actor,
    origin: RequestOrigin,
}

impl Author {
    pub(super) fn of(principal: &Principal, request: &Request) -> Result<Author, Error> {
        let actor = match principal {
            Principal::Root => Actor::AdminToken,
            Principal::Key(own, _) => Actor::Key { key_id: own.id.clone(), name: own.name.clone() },
        };
        Author::acting(actor, request)
    }

    /// `actor`, making its change through `request`.
    pub(super) fn acting(actor: Actor, request: &Request) -> Result<Author, Error> {
        let request_id = match request.header("cf-ray").filter(|ray| !ray.is_empty()) {
            Some(ray) => ray.chars().take(64).collect(),
            None => new_request_id().map_err(randomness)?,
        };
        let origin = RequestOrigin {
            request_id,
            ip: request.header("cf-connecting-ip").map(|ip| ip.chars().take(64).collect()),
            user_agent: request.header("user-agent").map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect()),
        };
        Ok(Author { actor, origin })
    }

    /// The entry recording `change`, with an audit event when `action` says one happened.
    pub(super) fn entry(
        &self,
        project: &ProjectId,
        change: CatalogChange,
        action: Option<(Action, &KeyId, UnixMillis)>,
    ) -> Result<OutboxEntry, Error> {
        let id = new_event_id().map_err(randomness)?;
        let event = action.map(|(action, key_id, at)| self.event(&id, action, Some(key_id.clone()), None, at));
        Ok(OutboxEntry { id, project: project.clone(), change, event, notice: None })
    }

    /// The entry recording `action` on `owner`'s shared limits (the owner's object fills in `changes`).
    pub(super) fn owner_entry(
        &self,
        project: &ProjectId,
        action: Action,
        owner: &OwnerId,
        at: UnixMillis,
    ) -> Result<OutboxEntry, Error> {
        let id = new_event_id().map_err(randomness)?;
        let event = Some(self.event(&id, action, None, Some(owner.clone()), at));
        Ok(OutboxEntry { id, project: project.clone(), change: CatalogChange::Unchanged, event, notice: None })
    }

    fn event(
        &self,
        id: &str,
        action: Action,
        key_id: Option<KeyId>,
        owner_id: Option<OwnerId>,
        at: UnixMillis,
    ) -> AuditEvent {
        AuditEvent {
            id: id.to_owned(),
            at,
            action,
            key_id,
            actor: self.actor.clone(),
            changes: None,
            new_key_id: None,
            owner_id,
            origin: self.origin.clone(),
        }
    }

    /// The entry of a write of `after` (an upsert), with its audit event.
    pub(super) fn upsert(
        &self,
        action: Option<Action>,
        before: Option<&KeyRecord>,
        after: &KeyRecord,
    ) -> Result<OutboxEntry, Error> {
        let change = CatalogChange::Upsert { record: after.clone() };
        let mut entry =
            self.entry(&after.project, change, action.map(|action| (action, &after.id, after.updated_at)))?;
        if let Some(event) = &mut entry.event {
            event.changes = Some(changes(before, after));
            event.new_key_id = after.rotated_to.clone();
        }
        Ok(entry)
    }
}

pub(super) fn randomness(error: getrandom::Error) -> Error {
    Error::Unavailable(format!("no randomness: {error}"))
}
