//! The streaming writer an archive is sealed into.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use tokio::io::AsyncWrite;

use super::StoreError;

/// Bytes buffered before an S3 multipart upload starts, and the size of each part (S3 wants at
/// least 5 MiB). A smaller archive is stored with one request.
pub const PART_SIZE: usize = 10 * 1024 * 1024;
/// Parts uploaded at once: memory stays near `PART_SIZE × (1 + this)` whatever the archive's size.
const PARTS_IN_FLIGHT: usize = 2;

/// Writes one archive to its store as it is produced; stored on `shutdown`.
///
/// Dropped (or [aborted](BackupWriter::abort)) before `shutdown`, nothing appears under the
/// key: a local upload's temporary file is removed. An S3 multipart upload that was dropped
/// rather than aborted stays incomplete in the bucket until its lifecycle rules clean it up.
pub struct BackupWriter {
    inner: BufWriter,
    location: String,
    shut_down: bool,
}

impl BackupWriter {
    pub(super) fn new(store: Arc<dyn ObjectStore>, path: ObjectPath, location: String) -> Self {
        BackupWriter {
            inner: BufWriter::with_capacity(store, path, PART_SIZE)
                .with_max_concurrency(PARTS_IN_FLIGHT),
            location,
            shut_down: false,
        }
    }

    /// Where the archive is being written.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Abandons the upload, removing what was sent so far. Does nothing once `shutdown` has
    /// been called: a completed archive is removed with [`super::BackupStore::delete`].
    pub async fn abort(&mut self) -> Result<(), StoreError> {
        if std::mem::replace(&mut self.shut_down, true) {
            return Ok(());
        }
        self.inner
            .abort()
            .await
            .map_err(|source| StoreError::Request {
                location: self.location.clone(),
                source,
            })
    }

    fn error(&self, source: io::Error) -> io::Error {
        io::Error::new(
            source.kind(),
            StoreError::Write {
                location: self.location.clone(),
                source,
            },
        )
    }
}

impl AsyncWrite for BackupWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        polled.map_err(|e| self.error(e))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        polled.map_err(|e| self.error(e))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shut_down = true;
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        polled.map_err(|e| self.error(e))
    }
}
