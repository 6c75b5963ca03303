//! What a key may and may not do to keys, rule by rule.

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
            crate::allowlist::Allowlist::try_from(entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).unwrap(),
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
