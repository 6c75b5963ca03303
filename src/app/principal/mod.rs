//! Who is calling the admin API, and what it may do to keys.
//!
//! Guarantee: a key acts only on keys no more powerful than itself, and can
//! never produce a key, or turn one into, something more powerful than
//! itself: scopes within its own, `per_minute` and `per_day` no higher, an
//! expiry no later (none only if it has none), its own environment. It may
//! shorten expiries but never extend one, so a key retired by rotation or
//! given an end by the admin token stays retired; it may deactivate keys,
//! but a key the admin token deactivated is re-activated by the admin token
//! only. Credits only go down by a key's hand: it may lower a key's
//! `remaining`, drop or lower (never add) a refill, and give credits to a key
//! that had none, but never raise a balance, remove the limit, or give more
//! than it has itself (when it has credits; an unlimited key may give any).
//! A key with an owner acts only on keys of the same owner, and the keys it
//! creates share its owner's limits (they get its `owner_id` unless they name
//! it): it can never mint a key that escapes its customer's plan. Only the
//! admin token puts a key under an owner other than the acting key's own: an
//! owner's limits are a budget its keys share, so adding a key spends it.
//! A key with `allowed_ips` only acts on keys whose every block lies inside
//! one of its own (never on a key allowed from any address).
//! The admin token may do anything. The credits rules are in `credits.rs`.

mod credits;
#[cfg(test)]
mod tests;

use std::rc::Rc;

use crate::error::Error;
use crate::ids::OwnerId;
use crate::record::{KeyRecord, KeyStatus};
use crate::scope::ScopeSet;

#[derive(Debug)]
pub enum Principal {
    /// The deployment's `ADMIN_TOKEN`: any project, anything.
    Root,
    /// An API key with `keys:read`/`keys:write`, confined to its project and
    /// bounded by its own record, and its credits left (when it has credits).
    Key(Rc<KeyRecord>, Option<u64>),
}

impl Principal {
    /// Refuses unless `target` is no more powerful than this principal:
    /// acting on a key (or creating one) is bounded by what the principal is.
    pub fn may_touch(&self, target: &KeyRecord) -> Result<(), Error> {
        let Principal::Key(own, _) = self else { return Ok(()) };
        self.holds(&target.scopes)?;
        within_limits(own, target)?;
        within_expiry(own, target)?;
        within_allowlist(own, target)?;
        if target.environment != own.environment {
            let message = format!("A key can only act on {} keys.", own.environment.as_str());
            return Err(exceeds("environment", message));
        }
        if own.owner_id.is_some() && target.owner_id != own.owner_id {
            return Err(exceeds("owner_id", "A key with an owner can only act on keys of the same owner."));
        }
        Ok(())
    }

    /// Refuses putting a key under an owner other than this principal's own:
    /// an owner's limits are a shared budget, and only the admin token decides
    /// who may spend it. (`before`: `None` for a key being created.)
    pub fn may_assign_owner(&self, before: Option<&KeyRecord>, after: &KeyRecord) -> Result<(), Error> {
        let Principal::Key(own, _) = self else { return Ok(()) };
        let moved = before.is_none_or(|before| before.owner_id != after.owner_id);
        if moved && after.owner_id.is_some() && after.owner_id != own.owner_id {
            return Err(exceeds("owner_id", "Only the admin token puts a key under another owner's shared limits."));
        }
        Ok(())
    }

    /// The owner whose keys alone this principal reads, for a key with an
    /// owner: a customer's key sees neither other customers' keys nor the
    /// project's audit log and usage (which span every customer).
    pub fn reads_only(&self) -> Option<&OwnerId> {
        match self {
            Principal::Key(own, _) => own.owner_id.as_ref(),
            Principal::Root => None,
        }
    }

    /// Refuses reading `target` as if it did not exist (404, like another
    /// project's key) unless it is within [`Principal::reads_only`].
    pub fn may_read(&self, target: &KeyRecord) -> Result<(), Error> {
        match self.reads_only() {
            Some(owner) if target.owner_id.as_ref() != Some(owner) => Err(Error::KeyNotFound),
            _ => Ok(()),
        }
    }

    /// Refuses a project-wide read (audit log, project usage) to a key confined to its owner.
    pub fn may_read_project(&self) -> Result<(), Error> {
        match self.reads_only() {
            Some(_) => {
                Err(exceeds("owner_id", "A key with an owner reads only its owner's keys, not the whole project's."))
            }
            None => Ok(()),
        }
    }

    /// Gives a key this principal creates the principal's own owner, unless it names one.
    pub fn lend_owner(&self, record: &mut KeyRecord) {
        if let (Principal::Key(own, _), None) = (self, &record.owner_id) {
            record.owner_id.clone_from(&own.owner_id);
        }
    }

    /// Refuses a change from `before` (which it may touch) to `after` that
    /// leaves `after` more powerful than this principal, extends an expiry, or
    /// re-activates what the admin token deactivated.
    pub fn may_change(&self, before: &KeyRecord, after: &KeyRecord) -> Result<(), Error> {
        let Principal::Key(..) = self else { return Ok(()) };
        self.may_touch(after)?;
        self.may_assign_owner(Some(before), after)?;
        let extended = match (before.expires_at, after.expires_at) {
            (Some(_), None) => true,
            (Some(before), Some(after)) => after > before,
            (None, _) => false,
        };
        if extended {
            return Err(exceeds("expires_at", "Only the admin token extends an expiry; a key may only shorten it."));
        }
        let reactivated = before.status == KeyStatus::Inactive && after.status == KeyStatus::Active;
        if reactivated && before.disabled_by_admin {
            return Err(exceeds("status", "The admin token deactivated this key; only it can re-activate the key."));
        }
        Ok(())
    }

    /// Sets `status` on `record` as this principal: the admin token's deactivation is remembered.
    pub fn set_status(&self, record: &mut KeyRecord, status: KeyStatus) {
        record.disabled_by_admin = match (status, self) {
            (KeyStatus::Active, _) => false,
            (KeyStatus::Inactive, Principal::Root) => true,
            (KeyStatus::Inactive, Principal::Key(..)) => record.disabled_by_admin,
        };
        record.status = status;
    }

    /// Refuses unless this principal holds every one of `scopes` itself. A
    /// stored scope that no longer parses grants nothing, here as in every
    /// check ([`ScopeSet::from_stored`]), so holding it is not required.
    fn holds(&self, scopes: &[String]) -> Result<(), Error> {
        let Principal::Key(own, _) = self else { return Ok(()) };
        let held = ScopeSet::from_stored(&own.scopes);
        match ScopeSet::from_stored(scopes).iter().find(|scope| !held.grants(scope)) {
            Some(missing) => Err(Error::InsufficientPermissions { required_scope: missing.to_string() }),
            None => Ok(()),
        }
    }
}

fn exceeds(field: &'static str, message: impl Into<String>) -> Error {
    Error::Exceeds { field, message: message.into() }
}

fn within_limits(own: &KeyRecord, new: &KeyRecord) -> Result<(), Error> {
    let (own, new) = (own.rate_limit, new.rate_limit);
    if new.per_minute > own.per_minute || new.per_day > own.per_day {
        let message = format!(
            "A key can only give limits up to its own ({} per minute, {} per day).",
            own.per_minute, own.per_day
        );
        return Err(exceeds("rate_limit", message));
    }
    Ok(())
}

fn within_expiry(own: &KeyRecord, new: &KeyRecord) -> Result<(), Error> {
    match (own.expires_at, new.expires_at) {
        (None, _) => Ok(()),
        (Some(own_end), Some(new_end)) if new_end <= own_end => Ok(()),
        (Some(own_end), _) => Err(exceeds(
            "expires_at",
            format!("A key can only give an expiry no later than its own ({}).", crate::record::rfc3339(own_end)),
        )),
    }
}

fn within_allowlist(own: &KeyRecord, new: &KeyRecord) -> Result<(), Error> {
    match (&own.allowed_ips, &new.allowed_ips) {
        (None, _) => Ok(()),
        (Some(own), Some(new)) if new.within(own) => Ok(()),
        (Some(own), _) => Err(exceeds(
            "allowed_ips",
            format!("A key can only give addresses within its own allowed_ips ({}).", own.to_strings().join(", ")),
        )),
    }
}
