//! Scopes: `admin`, `<resource>:<action>` or `<resource>:*`.
//!
//! Guarantee: a [`Scope`] value is always well-formed, and
//! [`ScopeSet::grants`] is the one place implication is decided:
//! `admin` ⇒ everything; `r:*` ⇒ every `r:<action>`; `r:<any action>` ⇒ `r:read`.

use std::fmt;

use crate::slug::{is_slug, First};

const MAX_NAME_LEN: usize = 32;

/// A parsed scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Admin,
    Action { resource: String, action: String },
    AllActions { resource: String },
}

/// Why a scope string is not a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeError(&'static str);

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Scope {
    pub fn parse(text: &str) -> Result<Scope, ScopeError> {
        if text == "admin" {
            return Ok(Scope::Admin);
        }
        let (resource, action) =
            text.split_once(':').ok_or(ScopeError("a scope is `admin`, `resource:action` or `resource:*`"))?;
        check_name(resource).map_err(|_| ScopeError("the resource of a scope must match [a-z][a-z0-9_-]{0,31}"))?;
        if action == "*" {
            return Ok(Scope::AllActions { resource: resource.to_owned() });
        }
        check_name(action)
            .map_err(|_| ScopeError("the action of a scope must be `*` or match [a-z][a-z0-9_-]{0,31}"))?;
        Ok(Scope::Action { resource: resource.to_owned(), action: action.to_owned() })
    }

    /// Whether holding `self` alone grants `wanted`.
    pub fn implies(&self, wanted: &Scope) -> bool {
        match (self, wanted) {
            (Scope::Admin, _) => true,
            (_, Scope::Admin) => false,
            (Scope::AllActions { resource: held }, Scope::Action { resource, .. })
            | (Scope::AllActions { resource: held }, Scope::AllActions { resource }) => held == resource,
            (Scope::Action { .. }, Scope::AllActions { .. }) => false,
            (Scope::Action { resource: held_resource, action: held_action }, Scope::Action { resource, action }) => {
                held_resource == resource && (held_action == action || action == "read")
            }
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Admin => f.write_str("admin"),
            Scope::Action { resource, action } => write!(f, "{resource}:{action}"),
            Scope::AllActions { resource } => write!(f, "{resource}:*"),
        }
    }
}

fn check_name(name: &str) -> Result<(), ()> {
    if is_slug(name, MAX_NAME_LEN, First::Letter) {
        Ok(())
    } else {
        Err(())
    }
}

/// The scopes a key holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(Vec<Scope>);

impl ScopeSet {
    /// The scopes of a stored record; one that no longer parses grants nothing.
    pub fn from_stored(texts: &[String]) -> ScopeSet {
        ScopeSet(texts.iter().filter_map(|text| Scope::parse(text).ok()).collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    pub fn grants(&self, wanted: &Scope) -> bool {
        self.0.iter().any(|held| held.implies(wanted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(text: &str) -> Scope {
        Scope::parse(text).unwrap()
    }

    fn set(texts: &[&str]) -> ScopeSet {
        let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
        texts.iter().for_each(|t| assert!(Scope::parse(t).is_ok(), "{t}"));
        ScopeSet::from_stored(&texts)
    }

    #[test]
    fn well_formed_scopes_round_trip() {
        for text in
            ["admin", "bots:read", "bots:*", "a:b", "keys:write", "r0_-x:a-b_9", &format!("{}:read", "a".repeat(32))]
        {
            assert_eq!(scope(text).to_string(), text);
        }
    }

    #[test]
    fn malformed_scopes_are_rejected() {
        for text in [
            "",
            "bots",
            "bots:",
            ":read",
            "Bots:read",
            "bots:Read",
            "bots:read:x",
            "1bots:read",
            "bots:1read",
            "bots :read",
            "bots:read ",
            "*:read",
            "*",
            "admin:read2 ",
            "bots:**",
            "bots:r*",
            &format!("{}:read", "a".repeat(33)),
            &format!("bots:{}", "a".repeat(33)),
            "bøts:read",
            "ADMIN",
        ] {
            assert!(Scope::parse(text).is_err(), "{text:?} should be rejected");
        }
    }

    #[test]
    fn admin_grants_everything() {
        let admin = set(&["admin"]);
        for wanted in ["admin", "bots:read", "bots:*", "keys:write"] {
            assert!(admin.grants(&scope(wanted)), "{wanted}");
        }
    }

    #[test]
    fn wildcard_grants_every_action_of_its_resource_only() {
        let held = set(&["bots:*"]);
        assert!(held.grants(&scope("bots:read")));
        assert!(held.grants(&scope("bots:delete")));
        assert!(held.grants(&scope("bots:*")));
        assert!(!held.grants(&scope("users:read")));
        assert!(!held.grants(&scope("admin")));
    }

    #[test]
    fn any_action_grants_read_of_the_same_resource() {
        assert!(set(&["bots:write"]).grants(&scope("bots:read")));
        assert!(set(&["bots:delete"]).grants(&scope("bots:read")));
        assert!(!set(&["bots:read"]).grants(&scope("bots:write")));
        assert!(!set(&["bots:write"]).grants(&scope("bots:delete")));
        assert!(!set(&["bots:write"]).grants(&scope("users:read")));
        assert!(!set(&["bots:write"]).grants(&scope("bots:*")));
    }

    #[test]
    fn stored_scopes_that_no_longer_parse_grant_nothing() {
        let held = ScopeSet::from_stored(&["bots:read".to_owned(), "Bad Scope".to_owned()]);
        assert!(held.grants(&scope("bots:read")));
        assert!(!ScopeSet::from_stored(&["Bad Scope".to_owned()]).grants(&scope("bots:read")));
    }

    #[test]
    fn an_empty_set_grants_nothing() {
        assert!(!ScopeSet::default().grants(&scope("bots:read")));
    }
}
