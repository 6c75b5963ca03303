use proptest::prelude::*;

use super::prefixes::is_prefix;
use super::*;

fn sk() -> KeyPrefixes {
    KeyPrefixes::default()
}

/// A fixed, valid key with `prefix` (its checksum computed by this module).
fn key_with(prefix: &str) -> String {
    let signed = format!("{prefix}_live_{}", "a".repeat(RANDOM_LEN));
    let checksum = checksum_of(&signed);
    format!("{signed}{}", std::str::from_utf8(&checksum).unwrap())
}

fn sample_key() -> String {
    key_with("sk")
}

fn wrong_prefix(prefixes: &KeyPrefixes) -> Result<ApiKey, KeyFormatError> {
    Err(KeyFormatError::WrongPrefix { accepted: prefixes.clone() })
}

#[test]
fn generated_keys_have_the_documented_shape() {
    let key = ApiKey::generate(Environment::Test, &sk()).unwrap();
    assert!(key.expose().starts_with("sk_test_"));
    assert_eq!(key.expose().len(), 8 + 43);
    assert_eq!(key.display_prefix().len(), 12);
    assert!(key.expose().starts_with(&key.display_prefix()));
    assert_ne!(key, ApiKey::generate(Environment::Test, &sk()).unwrap());
}

#[test]
fn new_keys_take_the_first_prefix_and_every_prefix_is_accepted() {
    let prefixes = KeyPrefixes::parse("acme2, sk").unwrap();
    let key = ApiKey::generate(Environment::Live, &prefixes).unwrap();
    assert!(key.expose().starts_with("acme2_live_"), "{key:?}");
    assert_eq!(key.expose().len(), "acme2_live_".len() + 43);
    assert_eq!(key.display_prefix().len(), "acme2_live_".len() + 4);
    assert!(key.expose().starts_with(&key.display_prefix()));
    assert_eq!(ApiKey::parse(key.expose(), &prefixes).as_ref(), Ok(&key));
    let older = ApiKey::parse(&sample_key(), &prefixes).unwrap();
    assert_eq!(older.display_prefix(), "sk_live_aaaa");
    assert_eq!(older.digest(), ApiKey::parse(&sample_key(), &sk()).unwrap().digest());
    let longest = KeyPrefixes::parse("abcdefghij12").unwrap();
    let key = ApiKey::parse(&key_with("abcdefghij12"), &longest).unwrap();
    assert_eq!(key.display_prefix(), "abcdefghij12_live_aaaa");
}

#[test]
fn a_key_of_a_prefix_not_configured_is_refused() {
    let acme = KeyPrefixes::parse("acme").unwrap();
    assert_eq!(ApiKey::parse(&sample_key(), &acme), wrong_prefix(&acme));
    assert!(!ApiKey::is_key_shaped(&sample_key(), &acme));
    let acme_key = ApiKey::generate(Environment::Live, &acme).unwrap();
    assert_eq!(ApiKey::parse(acme_key.expose(), &sk()), wrong_prefix(&sk()));
    // A prefix of a configured prefix, or one that extends it, is another prefix.
    assert_eq!(ApiKey::parse(&key_with("acm"), &acme), wrong_prefix(&acme));
    assert_eq!(ApiKey::parse(&key_with("acmee"), &acme), wrong_prefix(&acme));
}

#[test]
fn key_shaped_means_an_accepted_prefix_and_an_underscore() {
    let prefixes = KeyPrefixes::parse("acme,sk").unwrap();
    for shaped in ["sk_", "sk_admin_token", "acme_x", "acme_live_short"] {
        assert!(ApiKey::is_key_shaped(shaped, &prefixes), "{shaped}");
    }
    for other in ["sk", "skx_live_", "acm_live_", "ACME_live_", "", "_sk_", "pk_live_", "a-secret-admin-token"] {
        assert!(!ApiKey::is_key_shaped(other, &prefixes), "{other}");
    }
}

#[test]
fn prefix_lists_are_validated() {
    assert_eq!(KeyPrefixes::parse("sk"), Ok(KeyPrefixes::default()));
    assert_eq!(KeyPrefixes::parse(" acme , sk ").unwrap().iter().collect::<Vec<_>>(), ["acme", "sk"]);
    assert!(KeyPrefixes::parse("a1b2c3d4e5f6").is_ok());
    for bad in
        ["", " ", "Sk", "SK", "abcdefghijklm", "a", "1sk", "9", "sk,", ",sk", "sk,,acme", "s-k", "s_k", "sk,sk", "é"]
    {
        assert!(KeyPrefixes::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        KeyPrefixes::parse("sk,Acme").unwrap_err(),
        "`Acme` is not a key prefix: one matches [a-z][a-z0-9]{1,11}"
    );
}

#[test]
fn the_secret_scanning_pattern_names_every_prefix() {
    assert_eq!(sk().secret_scanning_pattern(), r"\b(?:sk)_(?:live|test)_[0-9A-Za-z]{43}\b");
    let prefixes = KeyPrefixes::parse("acme,sk").unwrap();
    assert_eq!(prefixes.secret_scanning_pattern(), r"\b(?:acme|sk)_(?:live|test)_[0-9A-Za-z]{43}\b");
}

#[test]
fn the_wrong_prefix_message_names_the_accepted_beginnings_not_the_input() {
    let message = ApiKey::parse("pk_live_secretsecret", &sk()).unwrap_err().to_string();
    assert_eq!(message, "the key must start with sk_live_ or sk_test_");
    assert!(!message.contains("secret"), "{message}");
    let prefixes = KeyPrefixes::parse("acme,sk").unwrap();
    let message = ApiKey::parse("pk_live_secretsecret", &prefixes).unwrap_err().to_string();
    assert_eq!(message, "the key must start with acme_live_, acme_test_, sk_live_ or sk_test_");
    assert_eq!(prefixes.heads(&[Environment::Live]), "acme_live_ or sk_live_");
}

#[test]
fn checksum_is_crc32_in_zero_padded_base62() {
    // crc32("") = 0 → all zeros; crc32("a") = 0xE8B7BE43 = 3904355907.
    assert_eq!(&checksum_of(""), b"000000");
    let mut expected = Vec::new();
    let mut n: u64 = 3_904_355_907;
    for _ in 0..6 {
        expected.push(BASE62[(n % 62) as usize]);
        n /= 62;
    }
    expected.reverse();
    assert_eq!(checksum_of("a").to_vec(), expected);
}

#[test]
fn digest_is_sha256_of_the_whole_key() {
    let key = ApiKey::parse(&sample_key(), &sk()).unwrap();
    let expected = hex::encode(Sha256::digest(sample_key().as_bytes()));
    assert_eq!(key.digest().to_hex(), expected);
    assert_eq!(key.digest().storage_key(), format!("k:{expected}"));
}

#[test]
fn debug_never_shows_the_secret() {
    let key = ApiKey::parse(&sample_key(), &sk()).unwrap();
    let shown = format!("{key:?}");
    assert!(!shown.contains(&sample_key()[12..]), "{shown}");
    assert!(shown.contains("sk_live_aaaa"));
}

#[test]
fn rejections_say_precisely_why() {
    let good = sample_key();
    let parse = |text: &str| ApiKey::parse(text, &sk());
    assert_eq!(parse(&format!(" {good}")), Err(KeyFormatError::Whitespace));
    assert_eq!(parse(&format!("{good}\n")), Err(KeyFormatError::Whitespace));
    assert_eq!(parse(&good.replacen("sk_live_", "pk_live_", 1)), wrong_prefix(&sk()));
    assert_eq!(parse(&good.replacen("sk_live_", "sk_prod_", 1)), wrong_prefix(&sk()));
    assert_eq!(parse(&good.replacen("sk_live_", "sk_livex", 1)), wrong_prefix(&sk()));
    assert_eq!(parse("sk_live"), wrong_prefix(&sk()));
    assert_eq!(parse(""), wrong_prefix(&sk()));
    assert_eq!(parse(&good[..50]), Err(KeyFormatError::WrongLength { expected: 51, actual: 50 }));
    assert_eq!(parse(&format!("{good}a")), Err(KeyFormatError::WrongLength { expected: 51, actual: 52 }));
    let mut bad = good.clone();
    bad.replace_range(10..11, "-");
    assert_eq!(parse(&bad), Err(KeyFormatError::NotBase62 { position: 10 }));
    let mut accented = good[..50].to_owned();
    accented.push('é');
    assert_eq!(parse(&accented), Err(KeyFormatError::NotBase62 { position: 50 }));
    let mut mistyped = good.clone();
    mistyped.replace_range(20..21, "b");
    assert_eq!(parse(&mistyped), Err(KeyFormatError::BadChecksum));
}

#[test]
fn a_test_key_is_not_a_live_key() {
    let test_key = ApiKey::generate(Environment::Test, &sk()).unwrap();
    let as_live = test_key.expose().replacen("sk_test_", "sk_live_", 1);
    assert_eq!(ApiKey::parse(&as_live, &sk()), Err(KeyFormatError::BadChecksum));
}

#[test]
fn the_checksum_covers_the_prefix() {
    let prefixes = KeyPrefixes::parse("acme,acmf").unwrap();
    let key = ApiKey::generate(Environment::Live, &prefixes).unwrap();
    let renamed = key.expose().replacen("acme_", "acmf_", 1);
    assert_eq!(ApiKey::parse(&renamed, &prefixes), Err(KeyFormatError::BadChecksum));
}

fn arbitrary_environment() -> impl Strategy<Value = Environment> {
    prop_oneof![Just(Environment::Live), Just(Environment::Test)]
}

/// One to three distinct valid prefixes.
fn arbitrary_prefixes() -> impl Strategy<Value = KeyPrefixes> {
    proptest::collection::btree_set("[a-z][a-z0-9]{1,11}", 1..=3)
        .prop_map(|set| KeyPrefixes::parse(&set.into_iter().collect::<Vec<_>>().join(",")).unwrap())
}

proptest! {
    #[test]
    fn every_generated_key_parses(env in arbitrary_environment(), prefixes in arbitrary_prefixes()) {
        let key = ApiKey::generate(env, &prefixes).unwrap();
        let head = format!("{}_", prefixes.current());
        prop_assert!(key.expose().starts_with(&head));
        let parsed = ApiKey::parse(key.expose(), &prefixes).unwrap();
        prop_assert_eq!(parsed.environment(), env);
        prop_assert_eq!(parsed.digest(), key.digest());
        prop_assert!(ApiKey::is_key_shaped(key.expose(), &prefixes));
    }

    #[test]
    fn any_single_character_change_is_rejected(
        env in arbitrary_environment(),
        prefixes in arbitrary_prefixes(),
        from_end in 1usize..=43,
        replacement in 0usize..62,
    ) {
        let key = ApiKey::generate(env, &prefixes).unwrap();
        let mut bytes = key.expose().as_bytes().to_vec();
        let position = bytes.len() - from_end;
        prop_assume!(bytes[position] != BASE62[replacement]);
        bytes[position] = BASE62[replacement];
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert_eq!(ApiKey::parse(&changed, &prefixes), Err(KeyFormatError::BadChecksum));
    }

    #[test]
    fn arbitrary_strings_never_panic(text in ".{0,80}", prefixes in arbitrary_prefixes()) {
        let _ = ApiKey::parse(&text, &prefixes);
        let _ = ApiKey::is_key_shaped(&text, &prefixes);
    }

    #[test]
    fn arbitrary_prefix_lists_never_panic(text in ".{0,40}") {
        if let Ok(prefixes) = KeyPrefixes::parse(&text) {
            prop_assert!(prefixes.iter().all(is_prefix));
        }
    }
}
