use std::pin::Pin;
use std::task::{Context, Poll};

use chrono::{TimeZone as _, Utc};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use tenantry_core::vault::{KeyRing, MasterKey, Vault};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use uuid::Uuid;

use super::*;

fn vault() -> Vault {
    Vault::new(KeyRing::from_keys(MasterKey::generate(), Vec::new()))
}

fn fields() -> HeaderFields {
    HeaderFields {
        backup_id: Uuid::now_v7(),
        tenant_id: Uuid::now_v7(),
        engine: Engine::Postgres,
        schema_version: Some(7),
        created_at: Utc.with_ymd_and_hms(2026, 12, 6, 3, 0, 0).unwrap(),
    }
}

fn random(len: usize) -> Vec<u8> {
    let mut data = vec![0; len];
    rand::rng().fill_bytes(&mut data);
    data
}

async fn seal_bytes(vault: &Vault, plain: &[u8]) -> (Vec<u8>, Sealed) {
    let mut archive = Vec::new();
    let sealed = seal(vault, fields(), plain, &mut archive).await.unwrap();
    (archive, sealed)
}

async fn open_bytes(vault: &Vault, archive: &[u8]) -> Result<Vec<u8>, ArchiveError> {
    let mut plain = Vec::new();
    open(vault, archive, &mut plain).await?;
    Ok(plain)
}

fn header_len(archive: &[u8]) -> usize {
    let len: [u8; 4] = archive[8..12].try_into().unwrap();
    12 + u32::from_be_bytes(len) as usize
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn round_trips_every_size_that_matters() {
    let vault = vault();
    for len in [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK + 5] {
        let plain = random(len);
        let fields = fields();
        let mut archive = Vec::new();
        let sealed = seal(&vault, fields.clone(), plain.as_slice(), &mut archive)
            .await
            .unwrap();
        let chunks_len = (len / CHUNK) * (CHUNK + TAG) + len % CHUNK + TAG;
        assert_eq!(archive.len(), header_len(&archive) + chunks_len, "{len}");
        assert_eq!(sealed.bytes, archive.len() as u64);
        assert_eq!(sealed.sha256, hex_sha256(&archive));
        assert_eq!(&sealed.key_id, vault.current_key_id());
        assert_eq!(sealed.format_version, 1);

        let mut out = Vec::new();
        let opened = open(&vault, archive.as_slice(), &mut out).await.unwrap();
        assert!(out == plain, "plaintext of {len} bytes differs");
        assert_eq!(opened.header.fields(), fields);
        assert_eq!(opened.header.key_id, sealed.key_id);
        assert_eq!(
            (opened.bytes, &opened.sha256),
            (sealed.bytes, &sealed.sha256)
        );
        assert_eq!(verify(&vault, archive.as_slice()).await.unwrap(), opened);
    }
}

#[tokio::test]
async fn the_header_is_readable_json_with_the_documented_fields() {
    let (archive, sealed) = seal_bytes(&vault(), b"x").await;
    assert_eq!(&archive[..8], MAGIC);
    let json: serde_json::Value =
        serde_json::from_slice(&archive[12..header_len(&archive)]).unwrap();
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["engine"], "postgres");
    assert_eq!(json["schema_version"], 7);
    assert_eq!(json["key_id"], sealed.key_id.as_str());
    assert_eq!(json["nonce_prefix"].as_str().unwrap().len(), 28);
}

#[tokio::test]
async fn any_flipped_header_byte_is_refused() {
    let vault = vault();
    let (archive, _) = seal_bytes(&vault, b"secret rows").await;
    for at in 0..header_len(&archive) {
        let mut tampered = archive.clone();
        tampered[at] ^= 0x01;
        assert!(open_bytes(&vault, &tampered).await.is_err(), "byte {at}");
    }
}

#[tokio::test]
async fn a_header_edit_that_still_parses_fails_authentication() {
    let vault = vault();
    let (archive, _) = seal_bytes(&vault, b"secret rows").await;
    let text = String::from_utf8_lossy(&archive[..header_len(&archive)]).into_owned();
    let edited = text.replace("\"schema_version\":7", "\"schema_version\":8");
    assert_ne!(edited, text);
    let mut tampered = edited.into_bytes();
    tampered.extend_from_slice(&archive[tampered.len()..]);
    assert!(matches!(
        open_bytes(&vault, &tampered).await,
        Err(ArchiveError::Corrupt)
    ));
}

#[tokio::test]
async fn a_flipped_chunk_byte_is_refused() {
    let vault = vault();
    let (archive, _) = seal_bytes(&vault, &random(3 * CHUNK + 5)).await;
    let start = header_len(&archive);
    for at in [start, start + CHUNK + TAG + 100, archive.len() - 1] {
        let mut tampered = archive.clone();
        tampered[at] ^= 0x80;
        assert!(
            matches!(
                open_bytes(&vault, &tampered).await,
                Err(ArchiveError::Corrupt)
            ),
            "byte {at}"
        );
    }
}

#[tokio::test]
async fn a_cut_short_archive_is_refused() {
    let vault = vault();
    let (archive, _) = seal_bytes(&vault, &random(3 * CHUNK + 5)).await;
    let start = header_len(&archive);
    let truncated = |len: usize| open_bytes(&vault, &archive[..len]);
    assert!(matches!(
        truncated(4).await,
        Err(ArchiveError::NotAnArchive)
    ));
    assert!(matches!(
        truncated(start - 1).await,
        Err(ArchiveError::Truncated)
    ));
    assert!(matches!(
        truncated(start).await,
        Err(ArchiveError::Truncated)
    ));
    let boundary = start + 2 * (CHUNK + TAG);
    assert!(matches!(
        truncated(boundary).await,
        Err(ArchiveError::Truncated)
    ));
    assert!(matches!(
        truncated(boundary + 10).await,
        Err(ArchiveError::Truncated)
    ));
    assert!(matches!(
        truncated(start + CHUNK / 2).await,
        Err(ArchiveError::Corrupt)
    ));
    assert!(matches!(
        truncated(archive.len() - 1).await,
        Err(ArchiveError::Corrupt)
    ));

    // A plaintext of exactly one chunk ends with an empty last chunk; dropping it is noticed.
    let (exact, _) = seal_bytes(&vault, &random(CHUNK)).await;
    let without_last = &exact[..exact.len() - TAG];
    assert!(matches!(
        open_bytes(&vault, without_last).await,
        Err(ArchiveError::Truncated)
    ));

    let mut appended = archive.clone();
    appended.push(0);
    assert!(matches!(
        open_bytes(&vault, &appended).await,
        Err(ArchiveError::Corrupt)
    ));
}

#[tokio::test]
async fn a_key_not_in_the_ring_is_named() {
    let sealing = vault();
    let (archive, sealed) = seal_bytes(&sealing, b"rows").await;
    match open_bytes(&vault(), &archive).await {
        Err(ArchiveError::UnknownKey(id)) => assert_eq!(id, sealed.key_id),
        other => panic!("expected UnknownKey, got {other:?}"),
    }
}

#[tokio::test]
async fn other_files_and_formats_are_refused_before_any_decryption() {
    let vault = vault();
    assert!(matches!(
        open_bytes(&vault, b"").await,
        Err(ArchiveError::NotAnArchive)
    ));
    assert!(matches!(
        open_bytes(&vault, b"PGDMP\0\0\0\0\0\0\0\0\0").await,
        Err(ArchiveError::NotAnArchive)
    ));
    let mut huge = MAGIC.to_vec();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        open_bytes(&vault, &huge).await,
        Err(ArchiveError::HeaderTooLarge(u32::MAX))
    ));

    let (archive, _) = seal_bytes(&vault, b"rows").await;
    let text = String::from_utf8_lossy(&archive[..header_len(&archive)]).into_owned();
    let mut future = text
        .replace("\"format_version\":1", "\"format_version\":2")
        .into_bytes();
    future.extend_from_slice(&archive[future.len()..]);
    assert!(matches!(
        open_bytes(&vault, &future).await,
        Err(ArchiveError::UnsupportedFormat(2))
    ));
}

/// 50 MiB sealed from a generator into a sink that only counts: nothing holds the backup.
#[tokio::test]
async fn sealing_streams_a_large_backup() {
    const LEN: u64 = 50 * 1024 * 1024;
    let vault = vault();
    let fields = fields();
    // Same fields, so the same header length.
    let mut empty = Vec::new();
    seal(&vault, fields.clone(), &b""[..], &mut empty)
        .await
        .unwrap();
    let source = Pattern { at: 0, len: LEN };
    let sealed = seal(&vault, fields, source, tokio::io::sink())
        .await
        .unwrap();
    let full_chunks = LEN / CHUNK as u64;
    let expected = header_len(&empty) as u64 + full_chunks * (CHUNK + TAG) as u64 + TAG as u64;
    assert_eq!(sealed.bytes, expected);
}

/// Seal and open at once, joined by a pipe of two chunks: the backup streams end to end.
#[tokio::test]
async fn seal_and_open_stream_through_a_small_pipe() {
    const LEN: u64 = 2 * 1024 * 1024 + 7;
    let vault = vault();
    let (archive_in, archive_out) = tokio::io::duplex(2 * CHUNK);
    let mut checked = Pattern { at: 0, len: LEN };
    let (sealed, opened) = tokio::join!(
        seal(&vault, fields(), Pattern { at: 0, len: LEN }, archive_in),
        open(&vault, archive_out, &mut checked),
    );
    let (sealed, opened) = (sealed.unwrap(), opened.unwrap());
    assert_eq!(checked.at, LEN);
    assert_eq!((sealed.bytes, sealed.sha256), (opened.bytes, opened.sha256));
}

/// Yields (as a reader) or expects (as a writer) `len` bytes of a position-dependent pattern.
struct Pattern {
    at: u64,
    len: u64,
}

fn pattern_byte(at: u64) -> u8 {
    (at ^ (at >> 11) ^ (at >> 19)) as u8
}

impl AsyncRead for Pattern {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = buf.remaining().min((self.len - self.at) as usize);
        let start = self.at;
        buf.put_slice(
            &(start..start + n as u64)
                .map(pattern_byte)
                .collect::<Vec<_>>(),
        );
        self.at += n as u64;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Pattern {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let start = self.at;
        let expected = (start..start + buf.len() as u64).map(pattern_byte);
        assert!(
            buf.iter().copied().eq(expected),
            "plaintext differs after byte {start}"
        );
        self.at += buf.len() as u64;
        assert!(self.at <= self.len, "more plaintext than was sealed");
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
