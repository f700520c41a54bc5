//! Backup stores against real storage: a local directory, and moto's S3 server
//! (`tenantry_test_utils::s3`, installed by `scripts/test`).

use rand::RngCore as _;
use tenantry_backup::archive::{self, CHUNK, Engine, HeaderFields};
use tenantry_backup::store::{BackupStore, PART_SIZE, S3Options, StoreError};
use tenantry_core::vault::{KeyRing, MasterKey, Vault};
use tenantry_test_utils::s3::{self, S3Server};
use tokio::io::AsyncWriteExt as _;

const KEY: &str = "tenant-a/0196b1d2-backup.tbk";

fn vault() -> Vault {
    Vault::new(KeyRing::from_keys(MasterKey::generate(), Vec::new()))
}

fn fields() -> HeaderFields {
    HeaderFields {
        backup_id: uuid::Uuid::now_v7(),
        tenant_id: uuid::Uuid::now_v7(),
        engine: Engine::Sqlite,
        schema_version: Some(3),
        created_at: chrono::Utc::now(),
    }
}

fn random(len: usize) -> Vec<u8> {
    let mut data = vec![0; len];
    rand::rng().fill_bytes(&mut data);
    data
}

fn s3_options(server: &S3Server) -> S3Options {
    S3Options {
        endpoint: Some(server.endpoint()),
        region: s3::REGION.to_owned(),
        access_key_id: Some(s3::ACCESS_KEY_ID.to_owned()),
        secret_access_key: Some(s3::SECRET_ACCESS_KEY.into()),
        allow_http: true,
    }
}

/// Seals `plain` into `store` at [`KEY`], reads it back through its recorded location, checks
/// size and plaintext, deletes it, and checks a missing key is a clear error.
async fn round_trip(store: &BackupStore, s3: &S3Options, plain: &[u8]) {
    let vault = vault();
    let writer = store.writer(KEY).await.unwrap();
    let sealed = archive::seal(&vault, fields(), plain, writer)
        .await
        .unwrap();
    assert_eq!(store.size(KEY).await.unwrap(), sealed.bytes);

    let location = store.location(KEY);
    let (recorded, key) = BackupStore::for_location(&location, s3).unwrap();
    assert_eq!(recorded.location(&key), location);
    let mut out = Vec::new();
    let reader = recorded.reader(&key).await.unwrap();
    let opened = archive::open(&vault, reader, &mut out).await.unwrap();
    assert!(out == plain, "plaintext differs");
    assert_eq!(
        (opened.bytes, &opened.sha256),
        (sealed.bytes, &sealed.sha256)
    );

    store.delete(KEY).await.unwrap();
    store.delete(KEY).await.unwrap();
    let missing = store.reader(KEY).await.err().expect("a deleted backup");
    assert!(
        matches!(missing, StoreError::NotFound { .. }),
        "{missing:?}"
    );
    assert_eq!(
        missing.to_string(),
        format!("backup {location} does not exist")
    );
    assert!(matches!(
        store.size(KEY).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_local_directory_stores_archives_under_their_final_name_only() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("backups/nested");
    let options = S3Options::default();
    let store = BackupStore::open(target.to_str().unwrap(), &options).unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    let real = target.canonicalize().unwrap();
    assert_eq!(
        store.location(KEY),
        format!("file://{}/{KEY}", real.display())
    );

    // A writer dropped before it is shut down leaves nothing behind.
    let mut abandoned = store.writer(KEY).await.unwrap();
    abandoned.write_all(b"half a backup").await.unwrap();
    drop(abandoned);
    assert!(matches!(
        store.size(KEY).await,
        Err(StoreError::NotFound { .. })
    ));

    round_trip(&store, &options, &random(3 * CHUNK + 5)).await;
    let left: Vec<_> = walk(&real);
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[tokio::test]
async fn an_s3_bucket_stores_archives_under_a_prefix() {
    let server = S3Server::start();
    let bucket = server.create_bucket();
    let options = s3_options(&server);
    let store = BackupStore::open(&format!("s3://{bucket}/site-1/backups"), &options).unwrap();
    assert_eq!(
        store.location(KEY),
        format!("s3://{bucket}/site-1/backups/{KEY}")
    );
    round_trip(&store, &options, &random(3 * CHUNK + 5)).await;

    // Above one part: a multipart upload, read back as one object.
    round_trip(&store, &options, &random(PART_SIZE + 3 * CHUNK)).await;

    let unprefixed = BackupStore::open(&format!("s3://{bucket}"), &options).unwrap();
    round_trip(&unprefixed, &options, b"small").await;
}

#[tokio::test]
async fn an_aborted_s3_upload_stores_nothing() {
    let server = S3Server::start();
    let options = s3_options(&server);
    let store = BackupStore::open(&format!("s3://{}", server.create_bucket()), &options).unwrap();
    let mut writer = store.writer(KEY).await.unwrap();
    writer.write_all(&random(PART_SIZE + 1)).await.unwrap();
    writer.abort().await.unwrap();
    assert!(matches!(
        store.size(KEY).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn bad_targets_keys_and_locations_are_refused_clearly() {
    let options = S3Options::default();
    let refused = |target: &str| BackupStore::open(target, &options).unwrap_err();
    assert!(matches!(
        refused("backups"),
        StoreError::InvalidTarget { .. }
    ));
    assert!(matches!(
        refused("ftp://host/dir"),
        StoreError::InvalidTarget { .. }
    ));
    assert!(matches!(refused("s3://"), StoreError::InvalidTarget { .. }));
    let leaked = refused("s3://AKIA:hunter2@bucket/prefix");
    assert!(matches!(leaked, StoreError::CredentialsInTarget));
    assert!(!format!("{leaked} {leaked:?}").contains("hunter2"));

    let dir = tempfile::tempdir().unwrap();
    let store = BackupStore::open(dir.path().to_str().unwrap(), &options).unwrap();
    for key in [
        "",
        "../escape.tbk",
        "/abs.tbk",
        "a//b.tbk",
        "a/./b",
        "with space",
        "q?x",
        "h#1",
    ] {
        let refused = store.writer(key).await.err().expect(key);
        assert!(matches!(refused, StoreError::InvalidKey { .. }), "{key}");
    }

    for location in [
        "",
        "/plain/path.tbk",
        "file:///",
        "s3://bucket",
        "http://x/y.tbk",
    ] {
        let refused = BackupStore::for_location(location, &options).unwrap_err();
        assert!(
            matches!(refused, StoreError::InvalidLocation { .. }),
            "{location}"
        );
    }
    let gone = format!("file://{}/gone/{KEY}", dir.path().display());
    let refused = BackupStore::for_location(&gone, &options).unwrap_err();
    assert!(
        matches!(refused, StoreError::NotFound { .. }),
        "{refused:?}"
    );
    assert!(
        !dir.path().join("gone").exists(),
        "reading must not create directories"
    );
}

#[test]
fn s3_options_never_show_the_secret() {
    let options = S3Options {
        access_key_id: Some("AKIAEXAMPLE".into()),
        secret_access_key: Some("wJalrXUtnFEMI".into()),
        ..S3Options::default()
    };
    assert!(!format!("{options:?}").contains("wJalrXUtnFEMI"));
    let half = S3Options {
        secret_access_key: None,
        ..options
    };
    assert!(matches!(
        BackupStore::open("s3://bucket", &half),
        Err(StoreError::IncompleteCredentials)
    ));
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
