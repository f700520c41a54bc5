//! The archive header: what the backup is of, and what opens it. Read before anything is
//! authenticated, so reading it is bounded ([`MAX_HEADER_LEN`]) and only parses; the first
//! chunk's tag then vouches for every header byte (they are its associated data).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantry_core::vault::{KeyId, STREAM_NONCE_PREFIX_LEN};
use tokio::io::{AsyncRead, AsyncReadExt as _};
use uuid::Uuid;

use super::ArchiveError;

/// The first bytes of every archive.
pub const MAGIC: &[u8; 8] = b"TNTRYBK\0";
/// The archive format this code writes, and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Upper bound on the header JSON, so a hostile file cannot make a reader allocate much.
pub const MAX_HEADER_LEN: u32 = 4096;

/// The database engine a backup was taken from: what can restore it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgres,
    Sqlite,
}

impl Engine {
    /// The engine's name as in the header: `postgres` or `sqlite`.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::Sqlite => "sqlite",
        }
    }
}

/// What the caller says about a backup it seals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderFields {
    /// The backup's id (the master's record of it).
    pub backup_id: Uuid,
    /// The tenant whose database this is.
    pub tenant_id: Uuid,
    /// The engine that wrote the dump.
    pub engine: Engine,
    /// The tenant schema's migration version when the dump was taken, if known.
    pub schema_version: Option<i32>,
    /// When the dump was started.
    pub created_at: DateTime<Utc>,
}

/// An archive's header as written: the caller's [`HeaderFields`] plus what opening needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT_VERSION`] in a header that was read.
    pub format_version: u32,
    pub backup_id: Uuid,
    pub tenant_id: Uuid,
    pub engine: Engine,
    pub schema_version: Option<i32>,
    pub created_at: DateTime<Utc>,
    /// The master key the chunks are sealed under.
    #[serde(with = "key_id")]
    pub key_id: KeyId,
    /// The STREAM nonce prefix, base64 in the JSON.
    #[serde(with = "nonce_prefix")]
    pub nonce_prefix: [u8; STREAM_NONCE_PREFIX_LEN],
}

impl Header {
    pub(super) fn new(
        fields: HeaderFields,
        key_id: KeyId,
        nonce_prefix: [u8; STREAM_NONCE_PREFIX_LEN],
    ) -> Header {
        let HeaderFields {
            backup_id,
            tenant_id,
            engine,
            schema_version,
            created_at,
        } = fields;
        Header {
            format_version: FORMAT_VERSION,
            backup_id,
            tenant_id,
            engine,
            schema_version,
            created_at,
            key_id,
            nonce_prefix,
        }
    }

    /// What the sealer was told about the backup.
    pub fn fields(&self) -> HeaderFields {
        HeaderFields {
            backup_id: self.backup_id,
            tenant_id: self.tenant_id,
            engine: self.engine,
            schema_version: self.schema_version,
            created_at: self.created_at,
        }
    }

    /// The header's bytes as written: magic, length, JSON. Also every chunk's associated data.
    pub(super) fn encode(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).expect("a header always serialises");
        let len = u32::try_from(json.len())
            .ok()
            .filter(|len| *len <= MAX_HEADER_LEN)
            .expect("a header is a few hundred bytes");
        let mut bytes = Vec::with_capacity(MAGIC.len() + 4 + json.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&json);
        bytes
    }

    /// Reads a header, returning it and its bytes as read.
    pub(super) async fn read<R: AsyncRead + Unpin>(
        archive: &mut R,
    ) -> Result<(Header, Vec<u8>), ArchiveError> {
        let mut bytes = vec![0; MAGIC.len() + 4];
        read_exact(archive, &mut bytes, ArchiveError::NotAnArchive).await?;
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(ArchiveError::NotAnArchive);
        }
        let len_bytes: [u8; 4] = bytes[MAGIC.len()..].try_into().expect("four bytes");
        let len = u32::from_be_bytes(len_bytes);
        if len > MAX_HEADER_LEN {
            return Err(ArchiveError::HeaderTooLarge(len));
        }
        let start = bytes.len();
        bytes.resize(start + len as usize, 0);
        read_exact(archive, &mut bytes[start..], ArchiveError::Truncated).await?;
        let json = &bytes[start..];
        // The version first: a later format may not parse as this one.
        let version: Version = serde_json::from_slice(json).map_err(ArchiveError::BadHeader)?;
        if version.format_version != FORMAT_VERSION {
            return Err(ArchiveError::UnsupportedFormat(version.format_version));
        }
        let header = serde_json::from_slice(json).map_err(ArchiveError::BadHeader)?;
        Ok((header, bytes))
    }
}

#[derive(Deserialize)]
struct Version {
    format_version: u32,
}

/// `read_exact`, with an early end of file reported as `on_eof`.
async fn read_exact<R: AsyncRead + Unpin>(
    archive: &mut R,
    buf: &mut [u8],
    on_eof: ArchiveError,
) -> Result<(), ArchiveError> {
    match archive.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(on_eof),
        Err(e) => Err(ArchiveError::Read(e)),
    }
}

mod key_id {
    use serde::de::Error as _;
    use serde::{Deserialize as _, Deserializer, Serializer};
    use tenantry_core::vault::KeyId;

    pub fn serialize<S: Serializer>(id: &KeyId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(id.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KeyId, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

mod nonce_prefix {
    use serde::de::Error as _;
    use serde::{Deserialize as _, Deserializer, Serializer};
    use tenantry_core::vault::STREAM_NONCE_PREFIX_LEN;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    pub fn serialize<S: Serializer>(
        prefix: &[u8; STREAM_NONCE_PREFIX_LEN],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(prefix))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<[u8; STREAM_NONCE_PREFIX_LEN], D::Error> {
        let encoded = String::deserialize(d)?;
        let bytes = STANDARD.decode(encoded).map_err(D::Error::custom)?;
        bytes.try_into().map_err(|_| {
            D::Error::custom(format!(
                "nonce_prefix must be {STREAM_NONCE_PREFIX_LEN} bytes"
            ))
        })
    }
}
