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
//! The admin token may do anything.

use std::rc::Rc;

use crate::credits::{Credits, Refill};
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

    /// Refuses credits `after` (policy and balance; `None`: unlimited) given
    /// to a key that had `before` (`None` for a key being created) unless
    /// they lower what it had and stay within this principal's own.
    pub fn may_give_credits(
        &self,
        before: Option<Option<(Credits, u64)>>,
        after: Option<(Credits, u64)>,
    ) -> Result<(), Error> {
        let Principal::Key(own, own_remaining) = self else { return Ok(()) };
        let refused = |message: &str| Err(exceeds("credits", message));
        if let Some(Some((had, had_remaining))) = before {
            let Some((given, remaining)) = after else {
                return refused("Only the admin token removes a key's credit limit.");
            };
            if remaining > had_remaining {
                return refused("Only the admin token raises a key's credits; a key may only lower them.");
            }
            if !refill_within(given.refill.as_ref(), had.refill.as_ref()) {
                return refused("Only the admin token adds or raises a refill; a key may only lower or drop it.");
            }
        }
        if let Some(own_credits) = own.credits {
            let Some((given, remaining)) = after else {
                return refused("A key with credits can only give keys credits, never unlimited use.");
            };
            if remaining > own_remaining.unwrap_or(0) {
                return refused("A key can only give credits up to what it has left itself.");
            }
            if !refill_within(given.refill.as_ref(), own_credits.refill.as_ref()) {
                return refused("A key can only give a refill no larger than its own.");
            }
        }
        Ok(())
    }

    /// Whether `after` can do anything `before` could not (for a key principal).
    pub fn widens(&self, before: &KeyRecord, after: &KeyRecord) -> bool {
        let Principal::Key(..) = self else { return false };
        let held = ScopeSet::from_stored(&before.scopes);
        let scopes = ScopeSet::from_stored(&after.scopes).iter().any(|scope| !held.grants(scope));
        let limits = after.rate_limit.per_minute > before.rate_limit.per_minute
            || after.rate_limit.per_day > before.rate_limit.per_day;
        let allowlist = match (&before.allowed_ips, &after.allowed_ips) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(before), Some(after)) => !after.within(before),
        };
        let reactivated = before.status == KeyStatus::Inactive && after.status == KeyStatus::Active;
        let unowned = before.owner_id.is_some() && after.owner_id != before.owner_id;
        scopes || limits || allowlist || reactivated || unowned
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

/// Whether refill `given` gives no more than `bound` (no refill gives nothing).
fn refill_within(given: Option<&Refill>, bound: Option<&Refill>) -> bool {
    match (given, bound) {
        (None, _) => true,
        (Some(given), Some(bound)) => given.within(bound),
        (Some(_), None) => false,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystate::tests::record;
    use crate::ratelimit::Quota;

    fn key_principal(edit: impl FnOnce(&mut KeyRecord)) -> Principal {
        let mut own = record(&["keys:write", "bots:read"]);
        own.rate_limit = Quota::new(60, 1000).unwrap();
        own.expires_at = Some(2_000_000_000_000);
        edit(&mut own);
        Principal::Key(Rc::new(own), None)
    }

    /// A key exactly as powerful as [`key_principal`]'s, with `scopes`.
    fn peer(scopes: &[&str]) -> KeyRecord {
        let mut peer = record(scopes);
        peer.rate_limit = Quota::new(60, 1000).unwrap();
        peer.expires_at = Some(2_000_000_000_000);
        peer
    }

    fn field(result: Result<(), Error>) -> Option<String> {
        match result {
            Ok(()) => None,
            Err(Error::Exceeds { field, .. }) => Some(field.to_owned()),
            Err(Error::InsufficientPermissions { required_scope }) => Some(format!("scope {required_scope}")),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_key_produces_nothing_more_powerful_than_itself() {
        let principal = key_principal(|_| {});
        let within = |edit: fn(&mut KeyRecord)| {
            let mut new = peer(&["bots:read"]);
            edit(&mut new);
            field(principal.may_touch(&new))
        };
        assert_eq!(within(|_| {}), None);
        assert_eq!(within(|r| r.scopes = vec!["bots:write".into()]), Some("scope bots:write".into()));
        assert_eq!(within(|r| r.rate_limit = Quota::new(61, 1000).unwrap()), Some("rate_limit".into()));
        assert_eq!(within(|r| r.rate_limit = Quota::new(u32::MAX, 1).unwrap()), Some("rate_limit".into()));
        assert_eq!(within(|r| r.rate_limit = Quota::new(1, 1001).unwrap()), Some("rate_limit".into()));
        assert_eq!(within(|r| r.expires_at = None), Some("expires_at".into()));
        assert_eq!(within(|r| r.expires_at = Some(2_000_000_000_001)), Some("expires_at".into()));
        assert_eq!(within(|r| r.environment = crate::key::Environment::Test), Some("environment".into()));
        assert_eq!(field(Principal::Root.may_touch(&record(&["admin"]))), None);
        let forever = key_principal(|own| own.expires_at = None);
        assert_eq!(field(forever.may_touch(&record(&[]))), None, "no expiry only from a key without one");
    }

    #[test]
    fn a_key_with_an_allowlist_gives_only_addresses_within_it() {
        let allowlist = |entries: &[&str]| {
            Some(
                crate::allowlist::Allowlist::try_from(entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>())
                    .unwrap(),
            )
        };
        let principal = key_principal(|own| own.allowed_ips = allowlist(&["10.0.0.0/8", "2001:db8::/32"]));
        let with = |allowed_ips| {
            let mut new = peer(&["bots:read"]);
            new.allowed_ips = allowed_ips;
            field(principal.may_touch(&new))
        };
        assert_eq!(with(allowlist(&["10.1.0.0/16", "2001:db8:1::1"])), None);
        assert_eq!(with(allowlist(&["10.0.0.0/8"])), None);
        assert_eq!(with(None), Some("allowed_ips".into()), "any address is wider than its own");
        assert_eq!(with(allowlist(&["10.0.0.0/7"])), Some("allowed_ips".into()));
        assert_eq!(with(allowlist(&["10.0.0.1", "192.0.2.1"])), Some("allowed_ips".into()));
        // A key without an allowlist gives any; the admin token anything.
        let anywhere = key_principal(|_| {});
        assert_eq!(field(anywhere.may_touch(&peer(&[]))), None);
        let mut narrowed = peer(&[]);
        narrowed.allowed_ips = allowlist(&["192.0.2.1"]);
        assert_eq!(field(anywhere.may_touch(&narrowed)), None);
        // Nor may it widen a key it may touch (a PATCH to null or a wider list).
        let mut inside = peer(&[]);
        inside.allowed_ips = allowlist(&["10.1.0.0/16"]);
        let mut widened = inside.clone();
        widened.allowed_ips = None;
        assert_eq!(field(principal.may_change(&inside, &widened)), Some("allowed_ips".into()));
    }

    #[test]
    fn a_key_acts_only_on_keys_no_more_powerful_than_itself() {
        let principal = key_principal(|_| {});
        let mut stronger = record(&["bots:read"]);
        stronger.rate_limit = Quota::new(1000, 100_000).unwrap();
        let mut renamed = stronger.clone();
        renamed.name = "new name".into();
        assert_eq!(field(principal.may_touch(&stronger)), Some("rate_limit".into()));
        assert_eq!(field(principal.may_change(&stronger, &renamed)), Some("rate_limit".into()));
        stronger.rate_limit = Quota::new(60, 1000).unwrap();
        assert_eq!(field(principal.may_touch(&stronger)), Some("expires_at".into()), "it never expires");
    }

    #[test]
    fn a_key_shortens_expiries_but_never_extends_one() {
        let principal = key_principal(|own| own.expires_at = None);
        let mut retired = record(&["bots:read"]);
        retired.expires_at = Some(1_000);
        let with_expiry = |at: Option<i64>| {
            let mut after = retired.clone();
            after.expires_at = at;
            field(principal.may_change(&retired, &after))
        };
        assert_eq!(with_expiry(Some(999)), None);
        assert_eq!(with_expiry(Some(1_000)), None);
        assert_eq!(with_expiry(Some(1_001)), Some("expires_at".into()));
        assert_eq!(with_expiry(None), Some("expires_at".into()));
        let mut unexpiring = retired.clone();
        unexpiring.expires_at = None;
        let mut ending = unexpiring.clone();
        ending.expires_at = Some(5);
        assert_eq!(field(principal.may_change(&unexpiring, &ending)), None);
        assert_eq!(field(Principal::Root.may_change(&retired, &unexpiring)), None);
    }

    /// A stored scope that no longer parses grants nothing, so touching a key
    /// that has one needs nothing more (it used to be a 503 here only).
    #[test]
    fn a_stored_scope_that_no_longer_parses_is_ignored_as_everywhere() {
        let principal = key_principal(|_| {});
        let mut target = peer(&["bots:read"]);
        target.scopes.push("Not A Scope".into());
        assert_eq!(field(principal.may_touch(&target)), None);
        target.scopes.push("bots:write".into());
        assert_eq!(field(principal.may_touch(&target)), Some("scope bots:write".into()));
    }

    #[test]
    fn a_key_with_an_owner_never_makes_or_frees_a_key_outside_its_owner() {
        let owner = |id: &str| Some(crate::ids::OwnerId::parse(id).unwrap());
        let principal = key_principal(|own| own.owner_id = owner("acct_1"));
        let mut created = peer(&[]);
        principal.lend_owner(&mut created);
        assert_eq!(created.owner_id, owner("acct_1"), "inherited when not named");
        assert_eq!(field(principal.may_touch(&created)), None);
        let mut other = peer(&[]);
        other.owner_id = owner("acct_2");
        principal.lend_owner(&mut other);
        assert_eq!(field(principal.may_touch(&other)), Some("owner_id".into()));
        let mut freed = created.clone();
        freed.owner_id = None;
        assert_eq!(field(principal.may_change(&created, &freed)), Some("owner_id".into()));
        // A key without an owner may act on owned keys and take them out, but
        // never put a key under an owner: that would spend the owner's budget.
        let unowned = key_principal(|_| {});
        assert_eq!(field(unowned.may_touch(&other)), None);
        assert_eq!(field(unowned.may_change(&created, &freed)), None);
        assert_eq!(field(unowned.may_assign_owner(None, &other)), Some("owner_id".into()));
        assert_eq!(field(unowned.may_change(&freed, &created)), Some("owner_id".into()));
        let mut renamed = other.clone();
        renamed.name = "renamed".into();
        assert_eq!(field(unowned.may_change(&other, &renamed)), None, "a key already under an owner stays");
        let mut root_made = peer(&[]);
        Principal::Root.lend_owner(&mut root_made);
        assert_eq!(root_made.owner_id, None);
    }

    #[test]
    fn a_key_deactivated_by_the_admin_token_is_reactivated_by_it_only() {
        let key = key_principal(|_| {});
        let mut target = peer(&[]);
        Principal::Root.set_status(&mut target, KeyStatus::Inactive);
        let mut reactivated = target.clone();
        key.set_status(&mut reactivated, KeyStatus::Active);
        assert_eq!(field(key.may_change(&target, &reactivated)), Some("status".into()));
        assert_eq!(field(Principal::Root.may_change(&target, &reactivated)), None);
        // A key that deactivated a key may re-activate it; deactivating again keeps the admin's mark.
        let mut by_key = peer(&[]);
        key.set_status(&mut by_key, KeyStatus::Inactive);
        let mut back = by_key.clone();
        key.set_status(&mut back, KeyStatus::Active);
        assert_eq!(field(key.may_change(&by_key, &back)), None);
        let mut again = target.clone();
        key.set_status(&mut again, KeyStatus::Inactive);
        assert!(again.disabled_by_admin);
    }
}
