//! Key files: generated private on first start, reused after, and errors or warnings naming the path.

use std::path::Path;
use std::sync::{Arc, Mutex};

use secrecy::ExposeSecret as _;
use tenantry_core::vault::{KeyError, KeyRing, Vault};

use super::support::{ctx, secret};

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
