//! The vault's security properties, tested from outside the crate.

use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret as _, SecretString};
use tenantry_core::vault::{
    KeyError, KeyRing, MasterKey, PasswordError, SealedSecret, SecretContext, Vault, VaultError,
    hash_password, random_password, verify_password,
};

const ROW: &str = "0193a5e2-7c1d-7b4e-9f00-2a6c1e0d5b11";
const OTHER_ROW: &str = "0193a5e2-7c1d-7b4e-9f00-2a6c1e0d5b12";

fn ctx() -> SecretContext {
    SecretContext::new("tenants", ROW, "db_password")
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s)
}

fn vault_with(keys: &[&MasterKey]) -> Vault {
    let copy = |k: &MasterKey| MasterKey::from_base64(k.to_base64().expose_secret()).unwrap();
    let (current, old) = keys.split_first().expect("at least one key");
    Vault::new(KeyRing::from_keys(
        copy(current),
        old.iter().map(|k| copy(k)).collect(),
    ))
}

fn fresh_vault() -> Vault {
    Vault::new(KeyRing::from_keys(KeyRing::generate_key(), Vec::new()))
}

/// Split a sealed string into its three dot-separated parts, payload decoded.
fn split(sealed: &str) -> (String, String, Vec<u8>) {
    let parts: Vec<&str> = sealed.split('.').collect();
    assert_eq!(parts.len(), 3, "{sealed}");
    let payload = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    (parts[0].to_owned(), parts[1].to_owned(), payload)
}

fn join(version: &str, key_id: &str, payload: &[u8]) -> String {
    format!("{version}.{key_id}.{}", URL_SAFE_NO_PAD.encode(payload))
}

// ---------------------------------------------------------------------------------------------
// Sealing and opening

#[test]
fn round_trip() {
    let vault = fresh_vault();
    for plaintext in [
        "s3cret-password",
        "",
        "ünïcødé 🔑 with spaces",
        &"x".repeat(10_000),
    ] {
        let sealed = vault.seal(&secret(plaintext), &ctx()).unwrap();
        let opened = vault.open(sealed.as_str(), &ctx()).unwrap();
        assert_eq!(opened.expose_secret(), plaintext);
    }
}

/// Sealed by an earlier build with key bytes 0..32: the stored format, key id derivation and
/// associated-data layout must keep opening what is already in databases.
#[test]
fn opens_a_value_sealed_by_an_earlier_build() {
    const FIXTURE: &str =
        "tv1.6135d3d8.q4jFGupGzWwNeNlhtIpGm05kXqKK0Lar-CsYitDAirGMg4pRKbR4yMD27A73OQGNxJ0kulhh9oI";
    let key = MasterKey::from_base64(&STANDARD.encode((0u8..32).collect::<Vec<_>>())).unwrap();
    assert_eq!(key.id().as_str(), "6135d3d8");
    let vault = Vault::new(KeyRing::from_keys(key, Vec::new()));
    assert_eq!(
        vault.open(FIXTURE, &ctx()).unwrap().expose_secret(),
        "fixture-password"
    );
}

#[test]
fn sealed_form_is_versioned_ascii_naming_its_key() {
    let vault = fresh_vault();
    let sealed = vault.seal(&secret("pw"), &ctx()).unwrap();
    let text = sealed.as_str();
    assert!(text.is_ascii());
    assert!(!text.contains("pw"));
    assert!(text.starts_with(&format!("tv1.{}.", vault.current_key_id())));
    assert_eq!(sealed.key_id(), vault.current_key_id());
    assert_eq!(sealed.to_string(), text);
    // 24-byte nonce + 2-byte ciphertext + 16-byte tag.
    assert_eq!(split(text).2.len(), 24 + 2 + 16);
}

#[test]
fn two_seals_of_the_same_plaintext_differ() {
    let vault = fresh_vault();
    let a = vault.seal(&secret("same"), &ctx()).unwrap();
    let b = vault.seal(&secret("same"), &ctx()).unwrap();
    assert_ne!(a, b);
    let (_, _, pa) = split(a.as_str());
    let (_, _, pb) = split(b.as_str());
    assert_ne!(pa[..24], pb[..24], "nonces must differ");
}

#[test]
fn wrong_key_fails() {
    let k1 = KeyRing::generate_key();
    let k2 = KeyRing::generate_key();
    let sealed = vault_with(&[&k1]).seal(&secret("pw"), &ctx()).unwrap();

    // A ring without k1 says which key is missing.
    assert_eq!(
        vault_with(&[&k2])
            .open(sealed.as_str(), &ctx())
            .unwrap_err(),
        VaultError::UnknownKeyId(k1.id().clone())
    );
    // Relabelled to claim k2, the ciphertext still does not open under k2.
    let (version, _, payload) = split(sealed.as_str());
    let relabelled = join(&version, k2.id().as_str(), &payload);
    assert_eq!(
        vault_with(&[&k2]).open(&relabelled, &ctx()).unwrap_err(),
        VaultError::Decrypt
    );
}

#[test]
fn flipping_any_payload_byte_fails() {
    let vault = fresh_vault();
    let sealed = vault.seal(&secret("tamper me"), &ctx()).unwrap();
    let (version, key_id, payload) = split(sealed.as_str());
    assert!(
        vault
            .open(&join(&version, &key_id, &payload), &ctx())
            .is_ok()
    );
    for position in 0..payload.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut tampered = payload.clone();
            tampered[position] ^= mask;
            assert_eq!(
                vault
                    .open(&join(&version, &key_id, &tampered), &ctx())
                    .err(),
                Some(VaultError::Decrypt),
                "byte {position} ^ {mask:#x} was accepted"
            );
        }
    }
}

#[test]
fn truncating_or_extending_the_payload_fails() {
    let vault = fresh_vault();
    let sealed = vault.seal(&secret("tamper me"), &ctx()).unwrap();
    let (version, key_id, payload) = split(sealed.as_str());
    for len in 0..payload.len() {
        assert!(
            vault
                .open(&join(&version, &key_id, &payload[..len]), &ctx())
                .is_err()
        );
    }
    let mut longer = payload.clone();
    longer.push(0);
    assert_eq!(
        vault.open(&join(&version, &key_id, &longer), &ctx()).err(),
        Some(VaultError::Decrypt)
    );
}

#[test]
fn tampering_with_version_or_key_id_text_fails() {
    let vault = fresh_vault();
    let sealed = vault.seal(&secret("pw"), &ctx()).unwrap();
    let (_, key_id, payload) = split(sealed.as_str());
    for version in ["tv2", "tv0", "TV1", "tv", "tv1 ", "", "v1"] {
        assert_eq!(
            vault.open(&join(version, &key_id, &payload), &ctx()).err(),
            Some(VaultError::Malformed),
            "{version:?}"
        );
    }
    for position in 0..key_id.len() {
        let mut other = key_id.clone().into_bytes();
        other[position] = if other[position] == b'0' { b'1' } else { b'0' };
        let other = String::from_utf8(other).unwrap();
        assert!(matches!(
            vault.open(&join("tv1", &other, &payload), &ctx()),
            Err(VaultError::UnknownKeyId(_))
        ));
    }
    let upper = format!("{}X", &key_id[..7]).to_uppercase();
    for bad_id in [
        upper.as_str(),
        &key_id[1..],
        &format!("{key_id}0"),
        "",
        "0123456g",
    ] {
        assert_eq!(
            vault.open(&join("tv1", bad_id, &payload), &ctx()).err(),
            Some(VaultError::Malformed),
            "{bad_id:?}"
        );
    }
}

#[test]
fn moved_to_another_row_fails() {
    let vault = fresh_vault();
    let sealed = vault.seal(&secret("pw"), &ctx()).unwrap();
    let other = SecretContext::new("tenants", OTHER_ROW, "db_password");
    assert_eq!(
        vault.open(sealed.as_str(), &other).err(),
        Some(VaultError::Decrypt)
    );
}

#[test]
fn moved_to_another_field_fails() {
    let vault = fresh_vault();
    let sealed = vault.seal(&secret("pw"), &ctx()).unwrap();
    let other = SecretContext::new("tenants", ROW, "db_admin_password");
    assert_eq!(
        vault.open(sealed.as_str(), &other).err(),
        Some(VaultError::Decrypt)
    );
}

#[test]
fn moved_to_another_table_fails() {
    let vault = fresh_vault();
    let sealed = vault.seal(&secret("pw"), &ctx()).unwrap();
    let other = SecretContext::new("db_servers", ROW, "db_password");
    assert_eq!(
        vault.open(sealed.as_str(), &other).err(),
        Some(VaultError::Decrypt)
    );
}

#[test]
fn context_accepts_typed_row_ids() {
    let id = uuid::Uuid::now_v7();
    let vault = fresh_vault();
    let sealed = vault
        .seal(
            &secret("pw"),
            &SecretContext::new("tenants", id, "db_password"),
        )
        .unwrap();
    let by_string = SecretContext::new("tenants", id.to_string(), "db_password");
    assert_eq!(
        vault
            .open(sealed.as_str(), &by_string)
            .unwrap()
            .expose_secret(),
        "pw"
    );
}

#[test]
fn rotation_opens_old_secrets_and_seals_new_ones_with_the_new_key() {
    let k1 = KeyRing::generate_key();
    let k2 = KeyRing::generate_key();
    let before = vault_with(&[&k1]);
    let old = before.seal(&secret("old secret"), &ctx()).unwrap();
    assert_eq!(old.key_id(), k1.id());
    assert!(!before.needs_rewrap(old.as_str()));

    let after = vault_with(&[&k2, &k1]);
    assert_eq!(after.current_key_id(), k2.id());
    assert_eq!(
        after.open(old.as_str(), &ctx()).unwrap().expose_secret(),
        "old secret"
    );
    assert!(after.needs_rewrap(old.as_str()));

    let new = after.seal(&secret("new secret"), &ctx()).unwrap();
    assert_eq!(new.key_id(), k2.id());
    assert!(!after.needs_rewrap(new.as_str()));

    // Rewrap = open + seal; afterwards k1 can go.
    let rewrapped = after
        .seal(&after.open(old.as_str(), &ctx()).unwrap(), &ctx())
        .unwrap();
    let only_k2 = vault_with(&[&k2]);
    assert_eq!(
        only_k2
            .open(rewrapped.as_str(), &ctx())
            .unwrap()
            .expose_secret(),
        "old secret"
    );
    assert_eq!(
        only_k2.open(old.as_str(), &ctx()).err(),
        Some(VaultError::UnknownKeyId(k1.id().clone()))
    );
}

#[test]
fn needs_rewrap_reports_malformed_values() {
    let vault = fresh_vault();
    assert!(vault.needs_rewrap(""));
    assert!(vault.needs_rewrap("plaintext-password"));
}

#[test]
fn garbage_inputs_to_open_never_panic() {
    let vault = fresh_vault();
    let valid = vault.seal(&secret("pw"), &ctx()).unwrap().into_string();
    let id = vault.current_key_id().to_string();
    let mut inputs: Vec<String> = [
        "",
        ".",
        "..",
        "...",
        "tv1",
        "tv1.",
        "tv1..",
        "tv1...",
        "tv1.00000000.",
        "tv1.00000000.AAAA",
        "tv1.zzzzzzzz.AAAA",
        "tv1.0000000.AAAA",
        "tv1.00000000.====",
        "tv1.00000000.A",
        "tv1.00000000.AB",
        "tv1.00000000.!!!!",
        "tv1.ééééé.AAAA",
        "\0\0\0",
        "tv1.\u{0}.\u{0}",
        "🔑.🔑.🔑",
        "postgres://user:password@host/db",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    inputs.push(format!("tv1.{id}."));
    inputs.push(format!("tv1.{id}.{}", "A".repeat(100_000)));
    inputs.push(format!("tv1.{id}.{}", URL_SAFE_NO_PAD.encode([0u8; 40])));
    inputs.push(format!("{valid}."));
    inputs.push(format!(".{valid}"));
    inputs.push(format!("{valid}="));
    inputs.push(valid.replace('.', ".."));
    // Every prefix of a valid value (char boundaries only; it is ASCII).
    inputs.extend((0..valid.len()).map(|n| valid[..n].to_owned()));
    // Deterministic pseudo-random strings over an alphabet that hits every parser branch.
    let alphabet: Vec<char> = "tv1.0123456789abcdefABCDEF-_+/=é🔑\0 ".chars().collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..2_000 {
        let mut s = String::from(if next() % 2 == 0 { "tv1." } else { "" });
        for _ in 0..next() % 80 {
            s.push(alphabet[(next() % alphabet.len() as u64) as usize]);
        }
        inputs.push(s);
    }
    for input in &inputs {
        assert!(vault.open(input, &ctx()).is_err(), "{input:?} opened");
        let _ = vault.needs_rewrap(input);
        let _ = input.parse::<SealedSecret>();
    }
}

#[test]
fn sealed_secret_parses_and_serialises_as_its_string() {
    let vault = fresh_vault();
    let sealed = vault.seal(&secret("pw"), &ctx()).unwrap();
    let parsed: SealedSecret = sealed.as_str().parse().unwrap();
    assert_eq!(parsed, sealed);
    assert_eq!(parsed.key_id(), vault.current_key_id());

    let json = serde_json::to_string(&sealed).unwrap();
    assert_eq!(json, format!("\"{sealed}\""));
    let back: SealedSecret = serde_json::from_str(&json).unwrap();
    assert_eq!(back, sealed);
    assert!(serde_json::from_str::<SealedSecret>("\"not sealed\"").is_err());
    assert_eq!("nope".parse::<SealedSecret>(), Err(VaultError::Malformed));
}

// ---------------------------------------------------------------------------------------------
// Keys

#[test]
fn key_parse_rejects_bad_base64_without_echoing_it() {
    let input = "this-is-not*base64!";
    let err = KeyRing::parse(&secret(input)).unwrap_err();
    assert!(matches!(err, KeyError::InvalidBase64 { position: 1 }));
    let shown = err.to_string();
    assert!(shown.contains("not valid base64"), "{shown}");
    assert!(!shown.contains(input), "{shown}");
}

#[test]
fn key_parse_rejects_wrong_lengths_without_echoing_them() {
    for len in [0usize, 16, 31, 33, 64] {
        // A recognisable byte pattern, so a leak would show up in the message.
        let bytes: Vec<u8> = (0..len).map(|i| 0xA0 ^ i as u8).collect();
        let encoded = STANDARD.encode(&bytes);
        let err = match KeyRing::parse(&secret(&encoded)) {
            Err(e) => e,
            Ok(_) => panic!("{len}-byte key accepted"),
        };
        let shown = err.to_string();
        if len == 0 {
            assert!(matches!(err, KeyError::Empty), "{shown}");
            continue;
        }
        assert!(
            shown.contains(&format!("must decode to 32 bytes, got {len}")),
            "{shown}"
        );
        assert!(!shown.contains(&encoded), "{shown}");
        assert!(!format!("{err:?}").contains(&encoded));
    }
}

#[test]
fn key_parse_names_the_bad_key_by_position() {
    let good = KeyRing::generate_key().to_base64();
    let spec = format!("{},{}, bad!", good.expose_secret(), good.expose_secret());
    let err = KeyRing::parse(&secret(&spec)).unwrap_err();
    assert!(
        matches!(err, KeyError::InvalidBase64 { position: 3 }),
        "{err}"
    );
}

#[test]
fn key_parse_takes_the_first_key_as_current() {
    let k1 = KeyRing::generate_key();
    let k2 = KeyRing::generate_key();
    let spec = format!(
        "# rotated 2025-01-01\n{}\n\n# previous\n{}\n",
        k2.to_base64().expose_secret(),
        k1.to_base64().expose_secret()
    );
    let ring = KeyRing::parse(&secret(&spec)).unwrap();
    assert_eq!(ring.current().id(), k2.id());
    assert_eq!(ring.key_ids().collect::<Vec<_>>(), vec![k2.id(), k1.id()]);

    let env_style = format!(
        "{},{}",
        k2.to_base64().expose_secret(),
        k1.to_base64().expose_secret()
    );
    let ring = KeyRing::parse(&secret(&env_style)).unwrap();
    assert_eq!(ring.key_ids().collect::<Vec<_>>(), vec![k2.id(), k1.id()]);
}

#[test]
fn key_ids_are_derived_from_the_key() {
    let k = KeyRing::generate_key();
    let again = MasterKey::from_base64(k.to_base64().expose_secret()).unwrap();
    assert_eq!(k.id(), again.id());
    assert_ne!(k.id(), KeyRing::generate_key().id());
}

#[test]
fn debug_output_contains_no_key_material() {
    let k1 = KeyRing::generate_key();
    let k2 = KeyRing::generate_key();
    let encodings = |k: &MasterKey| {
        let b64 = k.to_base64().expose_secret().to_owned();
        let raw = STANDARD.decode(&b64).unwrap();
        vec![
            b64.trim_end_matches('=').to_owned(),
            URL_SAFE_NO_PAD.encode(&raw),
            raw.iter().map(|b| format!("{b:02x}")).collect(),
            format!("{raw:?}"),
            format!("{:?}", &raw[..8]),
        ]
    };
    let secrets: Vec<String> = encodings(&k1).into_iter().chain(encodings(&k2)).collect();
    let vault = vault_with(&[&k2, &k1]);
    let sealed = vault.seal(&secret("plaintext-canary"), &ctx()).unwrap();
    let shown = [
        format!("{k1:?}"),
        format!("{:?}", vault.key_ring()),
        format!("{:#?}", vault.key_ring()),
        format!("{vault:?}"),
        format!("{sealed:?}"),
    ];
    for text in &shown {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{text} leaks key material");
        }
        assert!(!text.contains("plaintext-canary"));
    }
    assert!(shown[0].contains(k1.id().as_str()));
    assert!(shown[1].contains(k1.id().as_str()) && shown[1].contains(k2.id().as_str()));
    // The sealed Debug form hides the ciphertext too: it is not secret, but it is noise in logs.
    assert!(!shown[4].contains(sealed.as_str()));
}

// ---------------------------------------------------------------------------------------------
// Key files

/// Run `f` with a subscriber capturing WARN-level log output; returns what was logged.
fn capture_warnings<T>(f: impl FnOnce() -> T) -> (T, String) {
    let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || Writer(writer.clone()))
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    let logged = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    (result, logged)
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn load_or_generate_creates_a_private_key_file_then_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/master.key");

    let ((ring, generated), logged) =
        capture_warnings(|| KeyRing::load_or_generate(&path).unwrap());
    assert!(generated);
    assert!(path.is_file());
    assert!(logged.contains("GENERATED A NEW MASTER KEY"), "{logged}");
    assert!(logged.contains(&path.display().to_string()), "{logged}");
    assert!(logged.contains("lost"), "{logged}");
    assert!(!logged.contains(ring.current().to_base64().expose_secret()));
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);

    let content = std::fs::read_to_string(&path).unwrap();
    assert!(content.contains(ring.current().to_base64().expose_secret()));

    let (again, generated_again) = KeyRing::load_or_generate(&path).unwrap();
    assert!(!generated_again);
    assert_eq!(again.current().id(), ring.current().id());
    assert_eq!(
        again.current().to_base64().expose_secret(),
        ring.current().to_base64().expose_secret()
    );

    // And what one sealed, the other opens.
    let sealed = Vault::new(ring).seal(&secret("pw"), &ctx()).unwrap();
    assert_eq!(
        Vault::new(again)
            .open(sealed.as_str(), &ctx())
            .unwrap()
            .expose_secret(),
        "pw"
    );
}

#[test]
fn bad_key_file_errors_with_its_path_and_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    std::fs::write(&path, "not a key\n").unwrap();

    for err in [
        KeyRing::load_file(&path).unwrap_err(),
        KeyRing::load_or_generate(&path).unwrap_err(),
    ] {
        assert!(matches!(err, KeyError::InvalidFile { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(cause.contains("not valid base64"), "{cause}");
        assert!(!cause.contains("not a key"));
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a key\n");

    std::fs::write(&path, "").unwrap();
    let err = KeyRing::load_or_generate(&path).unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn missing_key_file_errors_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.key");
    let err = KeyRing::load_file(&path).unwrap_err();
    assert!(matches!(err, KeyError::Read { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn world_readable_key_file_loads_with_a_warning() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let key = KeyRing::generate_key();
    std::fs::write(&path, format!("{}\n", key.to_base64().expose_secret())).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let (ring, logged) = capture_warnings(|| KeyRing::load_file(&path).unwrap());
    assert_eq!(ring.current().id(), key.id());
    assert!(logged.contains("readable by other users"), "{logged}");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, logged) = capture_warnings(|| KeyRing::load_file(&path).unwrap());
    assert!(logged.is_empty(), "{logged}");
}

// ---------------------------------------------------------------------------------------------
// Passwords

#[test]
fn password_hash_verifies_the_right_password_only() {
    let hash = hash_password(&secret("correct horse battery staple")).unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains("correct horse"));
    assert!(verify_password(&secret("correct horse battery staple"), &hash).unwrap());
    assert!(!verify_password(&secret("correct horse battery stapler"), &hash).unwrap());
    assert!(!verify_password(&secret(""), &hash).unwrap());
}

#[test]
fn two_hashes_of_one_password_differ() {
    let a = hash_password(&secret("same")).unwrap();
    let b = hash_password(&secret("same")).unwrap();
    assert_ne!(a, b);
    assert!(verify_password(&secret("same"), &a).unwrap());
    assert!(verify_password(&secret("same"), &b).unwrap());
}

#[test]
fn malformed_password_hashes_are_errors_not_mismatches() {
    let good = hash_password(&secret("pw")).unwrap();
    let without_hash = good.rsplit_once('$').unwrap().0.to_owned();
    let argon2i = good.replacen("argon2id", "argon2i", 1);
    for phc in [
        "",
        "pw",
        "$",
        "$argon2id$",
        "$argon2id$v=19$m=19456,t=2,p=1",
        "$bcrypt$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA",
        &without_hash,
        &argon2i,
        &format!("{good}$extra"),
        &good.replacen("m=19456", "m=abc", 1),
    ] {
        assert!(
            matches!(
                verify_password(&secret("pw"), phc),
                Err(PasswordError::InvalidHash)
            ),
            "{phc:?}"
        );
    }
}

#[test]
fn random_passwords_are_long_url_safe_and_distinct() {
    let a = random_password();
    let b = random_password();
    assert_eq!(a.expose_secret().len(), 32);
    assert!(
        a.expose_secret()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );
    assert_ne!(a.expose_secret(), b.expose_secret());
}
