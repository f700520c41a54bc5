//! Backup targets and locations: the strings operators configure and the master records,
//! parsed into an object store and the URL prefix of what it holds.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use secrecy::ExposeSecret as _;
use url::Url;

use super::{S3Options, StoreError};

/// Where a store's objects live: a directory, or a bucket and a prefix within it.
pub(super) enum Target {
    Local(PathBuf),
    S3 { bucket: String, prefix: ObjectPath },
}

impl Target {
    /// An absolute directory path, a `file://` URL or `s3://bucket[/prefix]`.
    pub(super) fn parse(target: &str) -> Result<Target, StoreError> {
        let invalid = || StoreError::InvalidTarget {
            target: target.to_owned(),
        };
        if target.starts_with('/') {
            return Ok(Target::Local(PathBuf::from(target)));
        }
        let url = Url::parse(target).map_err(|_| invalid())?;
        if !url.username().is_empty() || url.password().is_some() {
            // Not echoed: the "target" may be a secret someone pasted in the wrong place.
            return Err(StoreError::CredentialsInTarget);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid());
        }
        match url.scheme() {
            "file" => url
                .to_file_path()
                .map(Target::Local)
                .map_err(|()| invalid()),
            "s3" => {
                let bucket = url
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(invalid)?;
                let prefix = ObjectPath::from_url_path(url.path()).map_err(|_| invalid())?;
                Ok(Target::S3 {
                    bucket: bucket.to_owned(),
                    prefix,
                })
            }
            _ => Err(invalid()),
        }
    }

    /// A recorded location split into its store's target and the object's key.
    pub(super) fn of_location(location: &str) -> Result<(Target, String), StoreError> {
        let invalid = || StoreError::InvalidLocation {
            location: location.to_owned(),
        };
        let (dir, key) = location.rsplit_once('/').ok_or_else(invalid)?;
        if !(dir.starts_with("file:///") || dir.starts_with("s3://")) {
            return Err(invalid());
        }
        let target = Target::parse(dir).map_err(|_| invalid())?;
        valid_key(key).map_err(|_| invalid())?;
        Ok((target, key.to_owned()))
    }

    /// The store, and the URL its keys are appended to (ending in `/`). A local directory is
    /// created (mode 0700) when `create`, and must exist otherwise.
    pub(super) fn connect(
        self,
        s3: &S3Options,
        create: bool,
    ) -> Result<(Arc<dyn ObjectStore>, String), StoreError> {
        match self {
            Target::Local(dir) => local(&dir, create),
            Target::S3 { bucket, prefix } => s3_bucket(&bucket, prefix, s3),
        }
    }
}

fn local(dir: &Path, create: bool) -> Result<(Arc<dyn ObjectStore>, String), StoreError> {
    let dir_error = |source| StoreError::Directory {
        dir: dir.to_owned(),
        source,
    };
    if create {
        create_private_dir(dir).map_err(dir_error)?;
    }
    // Symlinks and `..` resolved, so the recorded location names the real directory.
    let dir = std::fs::canonicalize(dir).map_err(dir_error)?;
    let store = LocalFileSystem::new_with_prefix(&dir).map_err(|source| StoreError::Setup {
        target: dir.display().to_string(),
        source,
    })?;
    let base = Url::from_directory_path(&dir).map_err(|()| StoreError::InvalidTarget {
        target: dir.display().to_string(),
    })?;
    Ok((Arc::new(store), base.to_string()))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

fn s3_bucket(
    bucket: &str,
    prefix: ObjectPath,
    options: &S3Options,
) -> Result<(Arc<dyn ObjectStore>, String), StoreError> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(&options.region)
        .with_allow_http(options.allow_http);
    if let Some(endpoint) = &options.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    // Without keys the builder uses the environment's role (web identity, ECS, EC2 metadata).
    match (&options.access_key_id, &options.secret_access_key) {
        (Some(id), Some(secret)) => {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret.expose_secret());
        }
        (None, None) => {}
        _ => return Err(StoreError::IncompleteCredentials),
    }
    let mut base =
        Url::parse(&format!("s3://{bucket}/")).map_err(|_| StoreError::InvalidTarget {
            target: format!("s3://{bucket}"),
        })?;
    if !prefix.as_ref().is_empty() {
        base.set_path(&format!("{prefix}/"));
    }
    let store = builder.build().map_err(|source| StoreError::Setup {
        target: base.to_string(),
        source,
    })?;
    let store: Arc<dyn ObjectStore> = if prefix.as_ref().is_empty() {
        Arc::new(store)
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    };
    Ok((store, base.to_string()))
}

/// A backup's key within its store: `/`-separated parts of ASCII letters, digits, `.`, `_` and
/// `-` (no empty, `.` or `..` part), so it is the same string in a path, an S3 key and a URL.
pub(super) fn valid_key(key: &str) -> Result<ObjectPath, StoreError> {
    let part_ok = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if !key.split('/').all(part_ok) {
        return Err(StoreError::InvalidKey {
            key: key.to_owned(),
        });
    }
    ObjectPath::parse(key).map_err(|_| StoreError::InvalidKey {
        key: key.to_owned(),
    })
}
