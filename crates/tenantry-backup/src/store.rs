//! Where backup archives are stored: a local directory or an S3-compatible bucket, through
//! `object_store`.
//!
//! A store is opened from a *target* — an absolute directory (created, mode 0700, if missing)
//! or `s3://bucket[/prefix]` — and names each archive by a *key* such as
//! `<tenant id>/<backup id>.tbk`. The master records each backup's full *location*
//! ([`BackupStore::location`]: `file:///dir/key` or `s3://bucket/prefix/key`), so a restore
//! reads it back with [`BackupStore::for_location`] even after the target setting changed.
//!
//! Archives stream both ways: [`BackupStore::writer`] uploads in parts as it is written (S3
//! multipart above [`PART_SIZE`]; a local file is written under a temporary name and renamed
//! when complete, so a half-written backup never appears under its final name), and
//! [`BackupStore::reader`] yields the object as it downloads.
//!
//! Errors name the location, never a credential.

mod target;
mod writer;

pub use writer::{BackupWriter, PART_SIZE};

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use futures::TryStreamExt as _;
use object_store::{ObjectStore, ObjectStoreExt as _};
use secrecy::SecretString;
use tokio::io::AsyncRead;
use tokio_util::io::StreamReader;

use target::{Target, valid_key};

/// How to reach S3-compatible targets. `Debug` never shows the secret.
#[derive(Clone, Debug)]
pub struct S3Options {
    /// The service's URL, for anything but AWS itself (MinIO, Ceph, R2, ...).
    pub endpoint: Option<String>,
    /// The bucket's region (`us-east-1` by default, which most compatible servers accept).
    pub region: String,
    /// Access key id; without one (and its secret) the environment's role is used.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<SecretString>,
    /// Whether plain `http://` endpoints are allowed (a store on the same host or in tests).
    pub allow_http: bool,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            endpoint: None,
            region: "us-east-1".to_owned(),
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
        }
    }
}

/// Why a backup store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A target that is neither an absolute directory nor an `s3://` URL.
    #[error("backup target {target:?} is neither an absolute directory nor s3://bucket[/prefix]")]
    InvalidTarget { target: String },
    /// A target URL with a user name or password in it.
    #[error("a backup target must not contain credentials: set them in the S3 options")]
    CredentialsInTarget,
    /// A recorded location that is not a backup's `file://` or `s3://` URL.
    #[error("{location:?} is not the location of a backup (file:///dir/key or s3://bucket/key)")]
    InvalidLocation { location: String },
    /// A key outside the allowed alphabet.
    #[error(
        "{key:?} is not a valid backup name ('/'-separated parts of letters, digits, '.', '_', '-')"
    )]
    InvalidKey { key: String },
    /// Only one of access key id and secret access key is set.
    #[error("S3 options: an access key id and a secret access key go together")]
    IncompleteCredentials,
    /// A local target directory cannot be created or resolved.
    #[error("cannot use backup directory {}", dir.display())]
    Directory {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The object store client could not be built.
    #[error("cannot set up the backup store {target}")]
    Setup {
        target: String,
        #[source]
        source: object_store::Error,
    },
    /// There is no backup at the location.
    #[error("backup {location} does not exist")]
    NotFound { location: String },
    /// Writing an archive failed (the cause inside a [`BackupWriter`]'s I/O errors).
    #[error("writing backup {location} failed")]
    Write {
        location: String,
        #[source]
        source: io::Error,
    },
    /// The store refused or failed a request.
    #[error("backup store request for {location} failed")]
    Request {
        location: String,
        #[source]
        source: object_store::Error,
    },
}

/// A place backups are stored. Cheap to clone.
#[derive(Clone)]
pub struct BackupStore {
    store: Arc<dyn ObjectStore>,
    /// The URL keys are appended to; ends in `/`.
    base: String,
}

impl BackupStore {
    /// Opens `target`: an absolute directory (created, mode 0700, if missing), a `file://`
    /// URL, or `s3://bucket[/prefix]` reached with `s3`.
    pub fn open(target: &str, s3: &S3Options) -> Result<BackupStore, StoreError> {
        let (store, base) = Target::parse(target)?.connect(s3, true)?;
        Ok(BackupStore { store, base })
    }

    /// The store holding a recorded location, and the key within it. A local directory is not
    /// created: a missing one means the backup is gone.
    pub fn for_location(
        location: &str,
        s3: &S3Options,
    ) -> Result<(BackupStore, String), StoreError> {
        let (target, key) = Target::of_location(location)?;
        let (store, base) = target.connect(s3, false).map_err(|e| match e {
            StoreError::Directory { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                StoreError::NotFound {
                    location: location.to_owned(),
                }
            }
            other => other,
        })?;
        Ok((BackupStore { store, base }, key))
    }

    /// The full URL of `key`, as the master records it.
    pub fn location(&self, key: &str) -> String {
        format!("{}{key}", self.base)
    }

    /// A streaming writer for a new archive at `key`; it is stored when the writer is shut
    /// down ([`crate::archive::seal`] does that).
    pub async fn writer(&self, key: &str) -> Result<BackupWriter, StoreError> {
        let path = valid_key(key)?;
        Ok(BackupWriter::new(
            Arc::clone(&self.store),
            path,
            self.location(key),
        ))
    }

    /// Streams the archive at `key` as it downloads.
    pub async fn reader(
        &self,
        key: &str,
    ) -> Result<impl AsyncRead + Unpin + Send + 'static, StoreError> {
        let path = valid_key(key)?;
        let location = self.location(key);
        let object = self
            .store
            .get(&path)
            .await
            .map_err(|e| request_error(&location, e))?;
        let body = object.into_stream().map_err(move |source| {
            io::Error::other(StoreError::Request {
                location: location.clone(),
                source,
            })
        });
        Ok(StreamReader::new(body))
    }

    /// The archive's size in bytes.
    pub async fn size(&self, key: &str) -> Result<u64, StoreError> {
        let path = valid_key(key)?;
        let meta = self
            .store
            .head(&path)
            .await
            .map_err(|e| request_error(&self.location(key), e))?;
        Ok(meta.size)
    }

    /// Deletes the archive at `key`; one that is already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = valid_key(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(request_error(&self.location(key), e)),
        }
    }
}

impl fmt::Debug for BackupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackupStore({})", self.base)
    }
}

fn request_error(location: &str, source: object_store::Error) -> StoreError {
    match source {
        object_store::Error::NotFound { .. } => StoreError::NotFound {
            location: location.to_owned(),
        },
        source => StoreError::Request {
            location: location.to_owned(),
            source,
        },
    }
}
