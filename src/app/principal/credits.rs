//! Credits by a key's hand: they only go down, never beyond the acting key's
//! own; and a key with credits gets hold of no key whose credits it could not
//! give (by rotating it, or widening it with a PATCH).

use super::{exceeds, Principal};
use crate::credits::{Credits, Refill};
use crate::error::Error;
use crate::record::{KeyRecord, KeyStatus};
use crate::scope::ScopeSet;

impl Principal {
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

    /// Refuses getting hold of a key whose credits (`held`: its policy and
    /// balance; `None`: unlimited) this principal could not give itself:
    /// whoever rotates a key holds its successor's secret, and whoever widens
    /// a key it holds uses it for more (see [`Principal::may_widen`]). So a
    /// key with credits never gains, through another key, more use than its
    /// own credits give.
    pub fn may_take_over(&self, held: Option<(Credits, u64)>) -> Result<(), Error> {
        self.may_give_credits(None, held)
    }

    /// Refuses a change from `before` to `after` that lets the key do
    /// anything it could not unless this principal may take it over with the
    /// credits the key holds after the change (`held`).
    pub fn may_widen(&self, before: &KeyRecord, after: &KeyRecord, held: Option<(Credits, u64)>) -> Result<(), Error> {
        if self.widens(before, after) {
            return self.may_take_over(held);
        }
        Ok(())
    }

    /// Whether `after` can do anything `before` could not (for a key principal).
    fn widens(&self, before: &KeyRecord, after: &KeyRecord) -> bool {
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
}

/// Whether refill `given` gives no more than `bound` (no refill gives nothing).
fn refill_within(given: Option<&Refill>, bound: Option<&Refill>) -> bool {
    match (given, bound) {
        (None, _) => true,
        (Some(given), Some(bound)) => given.within(bound),
        (Some(_), None) => false,
    }
}
