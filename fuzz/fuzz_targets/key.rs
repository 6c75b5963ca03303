//! Key parsing never panics, and a key it accepts round-trips and digests.
#![no_main]

use keygate::ids::KeyId;
use keygate::key::ApiKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(key) = ApiKey::parse(text) {
        assert_eq!(key.expose(), text);
        assert_eq!(ApiKey::parse(key.expose()).as_ref(), Ok(&key));
        key.digest();
        assert!(text.starts_with(&key.display_prefix()));
        assert!(ApiKey::is_key_shaped(text));
    }
    let _ = KeyId::parse(text);
});
