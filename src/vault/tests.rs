use super::*;

const KEY_ID: &str = "key_2CVsBntPRWyM8ZKQJ4qEeX";
const SECRET: &str = "sk_live_2CVsBntPRWyM8ZKQJ4qEeXdvRatUBvw3Y9L1kIKoTnF";

fn vault_key(fill: u8) -> String {
    STANDARD.encode([fill; 32])
}

fn vault(text: &str) -> Vault {
    Vault::parse(text).unwrap()
}

/// The sealed form's bytes after the version and key id.
fn sealed_bytes(sealed: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(sealed.rsplit('.').next().unwrap()).unwrap()
}

fn with_bytes(sealed: &str, bytes: &[u8]) -> String {
    let (head, _) = sealed.rsplit_once('.').unwrap();
    format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Test Case 16 of McGrew and Viega, "The Galois/Counter Mode of Operation
/// (GCM)" (the vectors NIST's GCM submission publishes): AES-256, a 96-bit
/// IV, 60 bytes of plaintext and 20 of associated data. The sealed form is
/// exactly `nonce ‖ ciphertext ‖ tag` of the published algorithm.
#[test]
fn sealing_is_aes_256_gcm_as_published() {
    let key = hex::decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308").unwrap();
    let plaintext = hex::decode(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    )
    .unwrap();
    let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").unwrap();
    let iv: [u8; 12] = hex::decode("cafebabefacedbaddecaf888").unwrap().try_into().unwrap();
    let ciphertext = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                      8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
    let tag = "76fc6ece0f4e1768cddf8853bb2d551b";
    let vault = vault(&STANDARD.encode(&key));
    let sealed = vault.seal_with_nonce(&aad, &plaintext, iv);
    assert_eq!(hex::encode(sealed_bytes(&sealed)), format!("cafebabefacedbaddecaf888{ciphertext}{tag}"));
    assert!(sealed.starts_with(&format!("v1.{}.", key_id(&key))), "{sealed}");
}

#[test]
fn a_sealed_secret_opens_for_its_key_only() {
    let vault = vault(&vault_key(7));
    let sealed = vault.seal(KEY_ID, SECRET).unwrap().0;
    assert_eq!(vault.open(KEY_ID, &Sealed(sealed.to_owned())).as_deref(), Ok(SECRET));
    assert!(!sealed.contains(SECRET) && !sealed.contains(&STANDARD.encode(SECRET)), "{sealed}");
    // Moved to another key (the associated data): it does not open.
    assert_eq!(vault.open("key_AAAAAAAAAAAAAAAAAAAAAA", &Sealed(sealed.to_owned())), Err(VaultError::DoesNotOpen));
}

#[test]
fn every_seal_has_a_fresh_nonce() {
    let vault = vault(&vault_key(7));
    let (first, second) = (vault.seal(KEY_ID, SECRET).unwrap().0, vault.seal(KEY_ID, SECRET).unwrap().0);
    assert_ne!(first, second);
    assert_ne!(sealed_bytes(&first)[..12], sealed_bytes(&second)[..12]);
}

#[test]
fn any_altered_byte_is_detected() {
    let vault = vault(&vault_key(7));
    let sealed = vault.seal(KEY_ID, SECRET).unwrap().0;
    let bytes = sealed_bytes(&sealed);
    // The nonce (0..12), the ciphertext, and the tag (the last 16 bytes).
    for index in [0, 11, 12, 12 + SECRET.len() - 1, bytes.len() - 16, bytes.len() - 1] {
        let mut altered = bytes.clone();
        altered[index] ^= 0x01;
        assert_eq!(vault.open(KEY_ID, &Sealed(with_bytes(&sealed, &altered))), Err(VaultError::DoesNotOpen), "{index}");
    }
    let cut = with_bytes(&sealed, &bytes[..bytes.len() - 1]);
    assert_eq!(vault.open(KEY_ID, &Sealed(cut.to_owned())), Err(VaultError::DoesNotOpen));
    assert_eq!(vault.open(KEY_ID, &Sealed(with_bytes(&sealed, &bytes[..27]))), Err(VaultError::DoesNotOpen));
    assert_eq!(vault.open(KEY_ID, &Sealed("v2.x.y".to_owned())), Err(VaultError::DoesNotOpen));
    assert_eq!(vault.open(KEY_ID, &Sealed(format!("{sealed}!"))), Err(VaultError::DoesNotOpen));
}

#[test]
fn after_a_rotation_the_older_vault_key_still_opens_what_it_sealed() {
    let old = vault(&vault_key(1));
    let sealed_by_old = old.seal(KEY_ID, SECRET).unwrap().0;
    let rotated = vault(&format!(r#"["{}", "{}"]"#, vault_key(2), vault_key(1)));
    assert_eq!(rotated.open(KEY_ID, &Sealed(sealed_by_old.to_owned())).as_deref(), Ok(SECRET));
    // The first entry seals.
    let sealed_by_new = rotated.seal(KEY_ID, SECRET).unwrap().0;
    assert_eq!(sealed_by(&sealed_by_new), Some(rotated.key_ids()[0].as_str()));
    assert_eq!(old.open(KEY_ID, &Sealed(sealed_by_new.to_owned())), Err(VaultError::KeyMissing));
    assert_eq!(vault(&vault_key(2)).open(KEY_ID, &Sealed(sealed_by_new.to_owned())).as_deref(), Ok(SECRET));
}

#[test]
fn a_wrong_vault_key_does_not_open() {
    let sealed = vault(&vault_key(1)).seal(KEY_ID, SECRET).unwrap().0;
    assert_eq!(vault(&vault_key(3)).open(KEY_ID, &Sealed(sealed.to_owned())), Err(VaultError::KeyMissing));
    // Even a wrong key that claims the right id (a collision, or a forged id) does not open it.
    let mut wrong = vault(&vault_key(3));
    wrong.keys[0].id = vault(&vault_key(1)).key_ids()[0].clone();
    assert_eq!(wrong.open(KEY_ID, &Sealed(sealed.to_owned())), Err(VaultError::DoesNotOpen));
}

#[test]
fn a_malformed_vault_key_is_refused_without_being_echoed() {
    let short = STANDARD.encode([9u8; 16]);
    for text in [
        "".to_owned(),
        "not base64 at all!".to_owned(),
        short.clone(),
        "[]".to_owned(),
        format!(r#"["{}", "{short}"]"#, vault_key(1)),
        "[1, 2]".to_owned(),
        format!(r#"["{short}""#),
    ] {
        let problem = Vault::parse(&text).unwrap_err();
        assert!(problem.contains("32 random bytes in base64"), "{problem}");
        assert!(text.is_empty() || !problem.contains(&text), "{problem}");
        assert!(!problem.contains(&short), "{problem}");
    }
    assert!(Vault::parse(&format!(r#"["{}", "{short}"]"#, vault_key(1))).unwrap_err().starts_with("entry 1 "));
    let vault = vault(&format!(" {} ", vault_key(1)));
    assert_eq!(format!("{vault:?}"), "Vault { keys: [redacted; 1] }");
}

/// Review: two vault keys of `VAULT_KEY` whose 32-bit ids collide (about 1 in
/// 2^32 per pair): the one that sealed a secret must still open it, whichever
/// comes first in the list.
#[test]
fn colliding_vault_key_ids_still_open_what_either_sealed() {
    let sealed = vault(&vault_key(1)).seal(KEY_ID, SECRET).unwrap();
    let mut rotated = vault(&format!(r#"["{}", "{}"]"#, vault_key(2), vault_key(1)));
    rotated.keys[0].id = rotated.keys[1].id.clone();
    assert_eq!(rotated.open(KEY_ID, &sealed).as_deref(), Ok(SECRET));
}
