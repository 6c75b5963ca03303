//! Key parsing never panics, and a key it accepts round-trips and digests.
#![no_main]

use std::sync::OnceLock;

use keygate::ids::KeyId;
use keygate::key::{ApiKey, KeyPrefixes};
use libfuzzer_sys::fuzz_target;

/// Two prefixes, one the beginning of the other's name, as after a change of `KEY_PREFIX`.
fn prefixes() -> &'static KeyPrefixes {
    static PREFIXES: OnceLock<KeyPrefixes> = OnceLock::new();
    PREFIXES.get_or_init(|| KeyPrefixes::parse("sk,skacme").unwrap())
}

fuzz_target!(|text: &str| {
    if let Ok(key) = ApiKey::parse(text, prefixes()) {
        assert_eq!(key.expose(), text);
        assert_eq!(ApiKey::parse(key.expose(), prefixes()).as_ref(), Ok(&key));
        key.digest();
        assert!(text.starts_with(&key.display_prefix()));
        assert!(ApiKey::is_key_shaped(text, prefixes()));
    }
    let _ = KeyPrefixes::parse(text);
    let _ = KeyId::parse(text);
});
