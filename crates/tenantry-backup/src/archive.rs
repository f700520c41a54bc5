//! The backup archive: a tenant's dump, encrypted and authenticated as it streams past.
//!
//! # Format (version 1)
//!
//! ```text
//! "TNTRYBK\0"                 8 bytes, magic
//! header length               u32, big-endian, at most 4096
//! header                      JSON: format_version (1), backup_id, tenant_id,
//!                             engine ("postgres" | "sqlite"), schema_version, created_at,
//!                             key_id, nonce_prefix (base64, 19 bytes)
//! chunk 0 … chunk n−1         each 64 KiB of plaintext + a 16-byte tag
//! last chunk                  0 to 64 KiB − 1 bytes of plaintext + a 16-byte tag
//! end of file
//! ```
//!
//! Chunks are sealed with the vault's STREAM construction ([`tenantry_core::vault::StreamSealer`],
//! XChaCha20-Poly1305) under the master key named in the header. Every chunk's associated data
//! is the exact header bytes (magic, length and JSON), so editing the header fails
//! authentication; STREAM's nonces fail reordered, dropped or appended chunks. The last chunk is
//! always short (an empty one follows a plaintext that is a multiple of 64 KiB), so a reader
//! knows a full-size chunk is never the last: end of file right after one means the archive was
//! cut short.
//!
//! Sealing and opening hold one chunk in memory, whatever the backup's size.

mod header;
#[cfg(test)]
mod tests;

pub use header::{Engine, FORMAT_VERSION, Header, HeaderFields, MAGIC, MAX_HEADER_LEN};

use std::io;

use sha2::{Digest as _, Sha256};
use tenantry_core::vault::{KeyId, Vault, VaultError};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// Bytes the seal adds to each chunk (the Poly1305 tag).
pub const TAG: usize = 16;

/// Why an archive could not be sealed or opened. The messages are for operators: they say what
/// is wrong with the backup, not which check noticed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The input does not start with the archive magic.
    #[error("not a Tenantry backup archive")]
    NotAnArchive,
    /// Written by a newer (or unknown) version of the format.
    #[error("backup archive format {0} is not supported (this version reads format 1)")]
    UnsupportedFormat(u32),
    /// The header claims more bytes than any real header has.
    #[error("backup archive header claims {0} bytes (at most 4096): not a valid archive")]
    HeaderTooLarge(u32),
    /// The header is not the JSON this format expects.
    #[error("backup archive header is malformed")]
    BadHeader(#[source] serde_json::Error),
    /// The archive ends before its last chunk.
    #[error("the backup is truncated (an interrupted upload or copy?)")]
    Truncated,
    /// A chunk failed authentication.
    #[error("the backup is corrupt or was tampered with (authentication failed)")]
    Corrupt,
    /// Sealed under a master key the key ring no longer holds.
    #[error("the backup was sealed with master key {0}, which is not in the key ring")]
    UnknownKey(KeyId),
    /// Over 2³² chunks (256 TiB): the STREAM counter would wrap.
    #[error("the backup is too large to seal")]
    TooLarge,
    /// Reading the input (the dump when sealing, the archive when opening) failed.
    #[error("cannot read the backup input")]
    Read(#[source] io::Error),
    /// Writing the output (the archive when sealing, the dump when opening) failed.
    #[error("cannot write the backup output")]
    Write(#[source] io::Error),
}

/// What [`seal`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// Archive bytes written.
    pub bytes: u64,
    /// SHA-256 of the archive bytes as written, lowercase hex.
    pub sha256: String,
    /// The master key the archive is sealed under.
    pub key_id: KeyId,
    /// The archive format written ([`FORMAT_VERSION`]).
    pub format_version: u32,
}

/// What [`open`] read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The archive's header, authenticated.
    pub header: Header,
    /// Archive bytes read.
    pub bytes: u64,
    /// SHA-256 of the archive bytes as read, lowercase hex.
    pub sha256: String,
}

/// Encrypts `plain` into an archive written to `out`, then shuts `out` down (which is what
/// completes an object-store upload). Pass `&mut writer` to keep the writer, e.g. to abort an
/// upload after an error.
pub async fn seal<R, W>(
    vault: &Vault,
    fields: HeaderFields,
    mut plain: R,
    mut out: W,
) -> Result<Sealed, ArchiveError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut sealer = vault.stream_sealer();
    let header = Header::new(fields, sealer.key_id().clone(), *sealer.nonce_prefix());
    let aad = header.encode();
    let mut tally = Tally::default();
    tally.write(&mut out, &aad).await?;
    let mut chunk = Vec::with_capacity(CHUNK + TAG);
    loop {
        chunk.clear();
        fill(&mut plain, &mut chunk, CHUNK)
            .await
            .map_err(ArchiveError::Read)?;
        if chunk.len() < CHUNK {
            sealer.seal_last(&aad, &mut chunk).map_err(too_large)?;
            tally.write(&mut out, &chunk).await?;
            break;
        }
        sealer.seal_next(&aad, &mut chunk).map_err(too_large)?;
        tally.write(&mut out, &chunk).await?;
    }
    out.shutdown().await.map_err(ArchiveError::Write)?;
    Ok(Sealed {
        bytes: tally.bytes,
        sha256: tally.hex_digest(),
        key_id: header.key_id,
        format_version: FORMAT_VERSION,
    })
}

/// Authenticates and decrypts an archive, writing the plaintext to `plain_out` chunk by chunk,
/// then shuts `plain_out` down.
///
/// Plaintext is written as each chunk authenticates, before the end is reached: after an error,
/// what was written is a genuine but incomplete prefix, and the caller must discard it (abort
/// the restore).
pub async fn open<R, W>(
    vault: &Vault,
    mut archive: R,
    mut plain_out: W,
) -> Result<Opened, ArchiveError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (header, aad) = Header::read(&mut archive).await?;
    let mut tally = Tally::default();
    tally.update(&aad);
    let mut opener = vault
        .stream_opener(&header.key_id, &header.nonce_prefix)
        .map_err(|e| match e {
            VaultError::UnknownKeyId(id) => ArchiveError::UnknownKey(id),
            _ => ArchiveError::Corrupt,
        })?;
    let mut chunk = Vec::with_capacity(CHUNK + TAG);
    loop {
        chunk.clear();
        fill(&mut archive, &mut chunk, CHUNK + TAG)
            .await
            .map_err(ArchiveError::Read)?;
        tally.update(&chunk);
        if chunk.len() == CHUNK + TAG {
            opener
                .open_next(&aad, &mut chunk)
                .map_err(|_| ArchiveError::Corrupt)?;
        } else if chunk.len() < TAG {
            // Not even a tag: the file ends where a chunk should be.
            return Err(ArchiveError::Truncated);
        } else {
            opener
                .open_last(&aad, &mut chunk)
                .map_err(|_| ArchiveError::Corrupt)?;
            plain_out
                .write_all(&chunk)
                .await
                .map_err(ArchiveError::Write)?;
            break;
        }
        plain_out
            .write_all(&chunk)
            .await
            .map_err(ArchiveError::Write)?;
    }
    plain_out.shutdown().await.map_err(ArchiveError::Write)?;
    Ok(Opened {
        header,
        bytes: tally.bytes,
        sha256: tally.hex_digest(),
    })
}

/// Checks an archive end to end (every chunk authenticates, nothing is missing) without
/// keeping the plaintext.
pub async fn verify<R: AsyncRead + Unpin>(
    vault: &Vault,
    archive: R,
) -> Result<Opened, ArchiveError> {
    open(vault, archive, tokio::io::sink()).await
}

fn too_large(_: VaultError) -> ArchiveError {
    ArchiveError::TooLarge
}

/// Reads into `buf` until it holds `want` bytes or the input ends.
async fn fill<R: AsyncRead + Unpin>(
    input: &mut R,
    buf: &mut Vec<u8>,
    want: usize,
) -> io::Result<()> {
    let limit = (want - buf.len()) as u64;
    input.take(limit).read_to_end(buf).await.map(|_| ())
}

/// Counts and hashes the archive bytes that pass.
#[derive(Default)]
struct Tally {
    bytes: u64,
    sha256: Sha256,
}

impl Tally {
    fn update(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len() as u64;
        self.sha256.update(bytes);
    }

    async fn write<W: AsyncWrite + Unpin>(
        &mut self,
        out: &mut W,
        bytes: &[u8],
    ) -> Result<(), ArchiveError> {
        out.write_all(bytes).await.map_err(ArchiveError::Write)?;
        self.update(bytes);
        Ok(())
    }

    fn hex_digest(self) -> String {
        self.sha256
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
