//! Master keys, their ids, and the key ring read from `TENANTRY_MASTER_KEY` or a key file.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use rand::rngs::OsRng;
use rand::{RngCore as _, TryRngCore as _};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Length of a master key in bytes (XChaCha20-Poly1305 uses 256-bit keys).
pub const KEY_LEN: usize = 32;

/// Standard base64, padding optional: operators paste keys into env vars and YAML, where a
/// trailing `=` is easily lost, and it carries no information anyway.
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Domain separation, so a key id can never be confused with any other hash of the key.
const KEY_ID_DOMAIN: &[u8] = b"tenantry key id v1\0";
const KEY_ID_HEX_LEN: usize = 8;

/// Short public fingerprint of a master key: the first 8 hex digits of
/// SHA-256(`"tenantry key id v1\0"` ‖ key).
///
/// Derived from the key, so operators never name keys and an id never changes. It is stored in
/// every sealed secret to pick the key for decryption; 32 bits reveal nothing useful about a
/// 256-bit key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    fn of(key: &[u8; KEY_LEN]) -> Self {
        let digest = Sha256::new()
            .chain_update(KEY_ID_DOMAIN)
            .chain_update(key)
            .finalize();
        let hex = digest
            .iter()
            .take(KEY_ID_HEX_LEN / 2)
            .map(|b| format!("{b:02x}"))
            .collect();
        KeyId(hex)
    }

    /// The id as it appears in sealed secrets and logs: 8 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for KeyId {
    type Err = InvalidKeyId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid =
            s.len() == KEY_ID_HEX_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if valid {
            Ok(KeyId(s.to_owned()))
        } else {
            Err(InvalidKeyId)
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// A string that is not a key id (8 lowercase hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a key id is 8 lowercase hex digits")]
pub struct InvalidKeyId;

/// A 32-byte master key. Zeroised on drop; `Debug` shows only its [`KeyId`].
pub struct MasterKey {
    bytes: SecretBox<[u8; KEY_LEN]>,
    id: KeyId,
}

impl MasterKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self::from_secret(SecretBox::init_with_mut(|bytes: &mut [u8; KEY_LEN]| {
            OsRng.unwrap_err().fill_bytes(bytes);
        }))
    }

    /// Decode one standard-base64 key (padding optional). The error never contains the input.
    pub fn from_base64(encoded: &str) -> Result<Self, KeyError> {
        Self::decode(encoded.trim(), 1)
    }

    fn decode(encoded: &str, position: usize) -> Result<Self, KeyError> {
        let decoded = Zeroizing::new(
            KEY_BASE64
                .decode(encoded)
                .map_err(|_| KeyError::InvalidBase64 { position })?,
        );
        let bytes: &[u8; KEY_LEN] =
            decoded
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::WrongLength {
                    position,
                    len: decoded.len(),
                })?;
        Ok(Self::from_secret(SecretBox::init_with_mut(
            |dst: &mut [u8; KEY_LEN]| dst.copy_from_slice(bytes),
        )))
    }

    fn from_secret(bytes: SecretBox<[u8; KEY_LEN]>) -> Self {
        let id = KeyId::of(bytes.expose_secret());
        MasterKey { bytes, id }
    }

    /// This key's public fingerprint.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The key in standard base64 — the format key files and `TENANTRY_MASTER_KEY` use.
    /// Only for writing a key file or showing a freshly generated key to an operator.
    pub fn to_base64(&self) -> SecretString {
        STANDARD.encode(self.bytes.expose_secret()).into()
    }

    pub(super) fn expose(&self) -> &[u8; KEY_LEN] {
        self.bytes.expose_secret()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

/// Why a key ring could not be built. `Display` never contains key material; keys are named by
/// their 1-based position in the spec instead.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The spec held no key at all.
    #[error("no master key given (expected one or more base64-encoded 32-byte keys)")]
    Empty,
    /// A key is not base64.
    #[error("master key #{position} is not valid base64")]
    InvalidBase64 {
        /// 1-based position in the spec.
        position: usize,
    },
    /// A key decodes to the wrong number of bytes.
    #[error("master key #{position} must decode to 32 bytes, got {len}")]
    WrongLength {
        /// 1-based position in the spec.
        position: usize,
        /// Decoded length.
        len: usize,
    },
    /// A key file exists but cannot be read (permissions, not UTF-8, ...).
    #[error("cannot read master key file {}", path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A key file was read but its content is not a valid key spec.
    #[error("invalid master key file {}", path.display())]
    InvalidFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with its content.
        #[source]
        source: Box<KeyError>,
    },
    /// A new key file could not be written.
    #[error("cannot write master key file {}", path.display())]
    Write {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// The master keys the vault knows: one current key that seals, plus older keys kept so that
/// secrets sealed before a rotation still open. `Debug` shows key ids only.
pub struct KeyRing {
    /// `keys[0]` is current. Never empty.
    keys: Vec<MasterKey>,
}

impl KeyRing {
    /// A ring sealing with `current` and also opening secrets sealed under any of `old`.
    /// Repeated keys are kept once.
    pub fn from_keys(current: MasterKey, old: Vec<MasterKey>) -> Self {
        let mut keys = Vec::with_capacity(1 + old.len());
        keys.push(current);
        for key in old {
            if !keys.iter().any(|k| k.expose() == key.expose()) {
                keys.push(key);
            }
        }
        KeyRing { keys }
    }

    /// Parse the spec used by `TENANTRY_MASTER_KEY` and key files: one or more standard-base64
    /// 32-byte keys separated by commas or newlines, the first one current. Blank entries and
    /// lines starting with `#` are ignored.
    pub fn parse(spec: &SecretString) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        let entries = spec
            .expose_secret()
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty());
        for (index, entry) in entries.enumerate() {
            keys.push(MasterKey::decode(entry, index + 1)?);
        }
        let mut keys = keys.into_iter();
        let current = keys.next().ok_or(KeyError::Empty)?;
        Ok(Self::from_keys(current, keys.collect()))
    }

    /// Read a key file (same format as [`KeyRing::parse`]). Warns if other users can read it.
    pub fn load_file(path: &Path) -> Result<Self, KeyError> {
        let content = fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        warn_if_exposed(path);
        Self::parse(&SecretString::from(content)).map_err(|e| KeyError::InvalidFile {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// The embedded-mode default: load `path`, or if it does not exist, generate a key, write it
    /// there (mode 0600, parent directories created) and warn loudly. Never overwrites an
    /// existing file. Returns the ring and whether a key was generated.
    pub fn load_or_generate(path: &Path) -> Result<(Self, bool), KeyError> {
        if path.exists() {
            return Ok((Self::load_file(path)?, false));
        }
        let key = MasterKey::generate();
        match write_new_key_file(path, &key) {
            Ok(()) => {}
            // Another process generated it between our check and our write: use theirs.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Ok((Self::load_file(path)?, false));
            }
            Err(source) => {
                return Err(KeyError::Write {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        tracing::warn!(
            path = %path.display(),
            key_id = %key.id(),
            "GENERATED A NEW MASTER KEY in {}. It encrypts every tenant's database credentials. \
             Back this file up now and keep it secret: if it is lost, every tenant secret is lost \
             with it.",
            path.display()
        );
        Ok((Self::from_keys(key, Vec::new()), true))
    }

    /// A fresh random key (same as [`MasterKey::generate`]).
    pub fn generate_key() -> MasterKey {
        MasterKey::generate()
    }

    /// The key that seals new secrets.
    pub fn current(&self) -> &MasterKey {
        &self.keys[0]
    }

    /// Ids of every key in the ring, current first.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.iter().map(MasterKey::id)
    }

    /// Keys carrying `id` (normally exactly one; several only on a 32-bit id collision).
    pub(super) fn keys_with_id<'a>(&'a self, id: &'a KeyId) -> impl Iterator<Item = &'a MasterKey> {
        self.keys.iter().filter(move |k| k.id() == id)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", self.current().id())
            .field(
                "old",
                &self.keys[1..].iter().map(MasterKey::id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn write_new_key_file(path: &Path, key: &MasterKey) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let header = "# Tenantry master key ring: one base64 key per line, the first one current.\n\
                  # Losing this file loses every tenant secret. Keep a backup; never commit it.\n";
    let written = file
        .write_all(header.as_bytes())
        .and_then(|()| file.write_all(key.to_base64().expose_secret().as_bytes()))
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all());
    if written.is_err() {
        // A half-written key file would be read as a different key next time.
        let _ = fs::remove_file(path);
    }
    written
}

#[cfg(unix)]
fn warn_if_exposed(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "master key file is readable by other users; restrict it with chmod 600"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_exposed(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_is_eight_hex_digits_and_depends_on_the_key() {
        let a = MasterKey::generate();
        let b = MasterKey::generate();
        assert_eq!(a.id().as_str().len(), 8);
        assert!(a.id().as_str().parse::<KeyId>().is_ok());
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn key_id_is_stable_for_a_known_key() {
        // SHA-256("tenantry key id v1\0" || [0u8; 32]), first four bytes, pinned: changing the
        // derivation would orphan every stored secret.
        let zero = MasterKey::from_base64(&STANDARD.encode([0u8; KEY_LEN])).unwrap();
        assert_eq!(zero.id().as_str(), "dc957420");
    }

    #[test]
    fn key_id_parse_rejects_non_ids() {
        for bad in ["", "abc", "ABCDEF01", "abcdef012", "abcdefg1", "abcdef0 "] {
            assert!(bad.parse::<KeyId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parse_skips_comments_and_blanks_and_dedupes() {
        let k1 = MasterKey::generate();
        let k2 = MasterKey::generate();
        let spec = format!(
            "# comment\n\n  {} ,{}\n{}\n",
            k1.to_base64().expose_secret(),
            k2.to_base64().expose_secret(),
            k1.to_base64().expose_secret(),
        );
        let ring = KeyRing::parse(&spec.into()).unwrap();
        let ids: Vec<_> = ring.key_ids().cloned().collect();
        assert_eq!(ids, vec![k1.id().clone(), k2.id().clone()]);
    }

    #[test]
    fn parse_accepts_unpadded_base64() {
        let k = MasterKey::generate();
        let unpadded = k
            .to_base64()
            .expose_secret()
            .trim_end_matches('=')
            .to_owned();
        let ring = KeyRing::parse(&unpadded.into()).unwrap();
        assert_eq!(ring.current().id(), k.id());
    }

    #[test]
    fn empty_spec_is_an_error() {
        for spec in ["", "  ", "# only a comment\n", ",\n,"] {
            assert!(matches!(KeyRing::parse(&spec.into()), Err(KeyError::Empty)));
        }
    }
}
