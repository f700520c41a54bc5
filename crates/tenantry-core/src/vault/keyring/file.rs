//! Key files: loading a ring from a file, and the embedded-mode default that generates and writes
//! one (mode 0600, never overwriting) when none exists yet.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::{KeyError, KeyRing, MasterKey};

impl KeyRing {
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
