//! A scope that parses prints back to itself and is granted by itself.
#![no_main]

use keygate::scope::{Scope, ScopeSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(scope) = Scope::parse(text) {
        assert_eq!(scope.to_string(), text);
        assert_eq!(Scope::parse(&scope.to_string()), Ok(scope.clone()));
        assert!(ScopeSet::from_stored(&[text.to_owned()]).grants(&scope));
        assert!(scope.implies(&scope));
    }
});
