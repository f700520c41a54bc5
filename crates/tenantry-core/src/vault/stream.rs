//! Online authenticated encryption of long streams (backups), chunk by chunk.
//!
//! STREAM (Hoang, Reyhanitabar, Rogaway, Vizár) over XChaCha20-Poly1305, as `aead-stream`'s
//! `StreamBE32`: each chunk's nonce is a random 19-byte prefix (one per stream) ‖ a 32-bit
//! big-endian chunk counter ‖ a last-chunk flag byte. So every chunk is authenticated on its
//! own, chunks cannot be reordered, dropped or replayed from another stream, and a stream cut
//! off before its last chunk is detected — without ever holding more than one chunk.
//!
//! Sealing uses the vault's current master key; opening picks the key by the [`KeyId`] the
//! sealer recorded, so a backup taken before a key rotation still opens while its key is in the
//! ring.

use std::fmt;

use aead_stream::{DecryptorBE32, EncryptorBE32, StreamBE32};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::Generate as _;

use super::{KeyId, Vault, VaultError, cipher};

/// Length of the random per-stream nonce prefix: the 24-byte XChaCha20 nonce less STREAM's 4
/// counter bytes and 1 last-chunk flag byte.
pub const STREAM_NONCE_PREFIX_LEN: usize = 19;

type NoncePrefix = aead_stream::Nonce<XChaCha20Poly1305, StreamBE32<XChaCha20Poly1305>>;
type Decryptor = DecryptorBE32<XChaCha20Poly1305>;

/// Encrypts one stream, chunk by chunk, under the current master key. Dropped without
/// [`StreamSealer::seal_last`], the stream it wrote will not open.
pub struct StreamSealer {
    key_id: KeyId,
    nonce_prefix: NoncePrefix,
    encryptor: EncryptorBE32<XChaCha20Poly1305>,
}

/// Decrypts and authenticates one stream written by a [`StreamSealer`].
pub struct StreamOpener {
    key_id: KeyId,
    // Several only if two keys in the ring share a 32-bit id; the first chunk decides.
    candidates: Vec<Decryptor>,
}

impl Vault {
    /// A sealer for a new stream: the current key and a fresh random nonce prefix from the
    /// operating system's CSPRNG.
    pub fn stream_sealer(&self) -> StreamSealer {
        let key = self.ring.current();
        let nonce_prefix = NoncePrefix::generate();
        StreamSealer {
            key_id: key.id().clone(),
            encryptor: EncryptorBE32::from_aead(cipher(key), &nonce_prefix),
            nonce_prefix,
        }
    }

    /// An opener for a stream sealed under `key_id` with `nonce_prefix`.
    pub fn stream_opener(
        &self,
        key_id: &KeyId,
        nonce_prefix: &[u8],
    ) -> Result<StreamOpener, VaultError> {
        let nonce_prefix =
            NoncePrefix::try_from(nonce_prefix).map_err(|_| VaultError::Malformed)?;
        let candidates: Vec<Decryptor> = self
            .ring
            .keys_with_id(key_id)
            .map(|key| Decryptor::from_aead(cipher(key), &nonce_prefix))
            .collect();
        if candidates.is_empty() {
            return Err(VaultError::UnknownKeyId(key_id.clone()));
        }
        Ok(StreamOpener {
            key_id: key_id.clone(),
            candidates,
        })
    }
}

impl StreamSealer {
    /// The key this stream is sealed under; record it beside the stream.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The stream's nonce prefix ([`STREAM_NONCE_PREFIX_LEN`] bytes); record it beside the
    /// stream. Not secret.
    pub fn nonce_prefix(&self) -> &[u8; STREAM_NONCE_PREFIX_LEN] {
        self.nonce_prefix.as_ref()
    }

    /// Encrypts a chunk that is not the last, in place, appending its 16-byte tag.
    pub fn seal_next(&mut self, aad: &[u8], chunk: &mut Vec<u8>) -> Result<(), VaultError> {
        self.encryptor
            .encrypt_next_in_place(aad, chunk)
            .map_err(|_| VaultError::Encrypt)
    }

    /// Encrypts the last chunk (possibly empty), in place, appending its tag, and ends the
    /// stream.
    pub fn seal_last(self, aad: &[u8], chunk: &mut Vec<u8>) -> Result<(), VaultError> {
        self.encryptor
            .encrypt_last_in_place(aad, chunk)
            .map_err(|_| VaultError::Encrypt)
    }
}

impl StreamOpener {
    /// The key the stream is opened with.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Authenticates and decrypts a chunk that is not the last, in place (the tag is removed).
    /// [`VaultError::Decrypt`] if it was tampered with, is out of order, or is the last chunk.
    pub fn open_next(&mut self, aad: &[u8], chunk: &mut Vec<u8>) -> Result<(), VaultError> {
        if let [only] = self.candidates.as_mut_slice() {
            return only
                .decrypt_next_in_place(aad, chunk)
                .map_err(|_| VaultError::Decrypt);
        }
        for (index, candidate) in self.candidates.iter_mut().enumerate() {
            let mut trial = chunk.clone();
            if candidate.decrypt_next_in_place(aad, &mut trial).is_ok() {
                *chunk = trial;
                let found = self.candidates.swap_remove(index);
                self.candidates = vec![found];
                return Ok(());
            }
        }
        Err(VaultError::Decrypt)
    }

    /// Authenticates and decrypts the last chunk, in place, and ends the stream.
    /// [`VaultError::Decrypt`] if it was tampered with or is not the last chunk (the stream was
    /// truncated).
    pub fn open_last(self, aad: &[u8], chunk: &mut Vec<u8>) -> Result<(), VaultError> {
        let tries = self.candidates.len();
        for (index, candidate) in self.candidates.into_iter().enumerate() {
            if index + 1 == tries {
                return candidate
                    .decrypt_last_in_place(aad, chunk)
                    .map_err(|_| VaultError::Decrypt);
            }
            let mut trial = chunk.clone();
            if candidate.decrypt_last_in_place(aad, &mut trial).is_ok() {
                *chunk = trial;
                return Ok(());
            }
        }
        Err(VaultError::Decrypt)
    }
}

impl fmt::Debug for StreamSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamSealer({})", self.key_id)
    }
}

impl fmt::Debug for StreamOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamOpener({})", self.key_id)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;
    use crate::vault::{KeyRing, MasterKey};

    const AAD: &[u8] = b"header";

    fn vault() -> Vault {
        Vault::new(KeyRing::from_keys(MasterKey::generate(), Vec::new()))
    }

    /// Seals `chunks` (the last one with `seal_last`), returning the sealer's id, prefix and
    /// ciphertexts.
    fn seal(vault: &Vault, chunks: &[&[u8]]) -> (KeyId, Vec<u8>, Vec<Vec<u8>>) {
        let mut sealer = vault.stream_sealer();
        let (key_id, prefix) = (sealer.key_id().clone(), sealer.nonce_prefix().to_vec());
        let (last, rest) = chunks.split_last().expect("at least one chunk");
        let mut sealed = Vec::new();
        for chunk in rest {
            let mut buf = chunk.to_vec();
            sealer.seal_next(AAD, &mut buf).unwrap();
            sealed.push(buf);
        }
        let mut buf = last.to_vec();
        sealer.seal_last(AAD, &mut buf).unwrap();
        sealed.push(buf);
        (key_id, prefix, sealed)
    }

    /// Opens `sealed` in the given order, the last with `open_last`.
    fn open(
        vault: &Vault,
        key_id: &KeyId,
        prefix: &[u8],
        sealed: &[Vec<u8>],
    ) -> Result<Vec<Vec<u8>>, VaultError> {
        let mut opener = vault.stream_opener(key_id, prefix)?;
        let (last, rest) = sealed.split_last().expect("at least one chunk");
        let mut plain = Vec::new();
        for chunk in rest {
            let mut buf = chunk.clone();
            opener.open_next(AAD, &mut buf)?;
            plain.push(buf);
        }
        let mut buf = last.clone();
        opener.open_last(AAD, &mut buf)?;
        plain.push(buf);
        Ok(plain)
    }

    #[test]
    fn round_trip_appends_one_tag_per_chunk() {
        let vault = vault();
        let (key_id, prefix, sealed) = seal(&vault, &[b"first", b"second", b""]);
        assert_eq!(&key_id, vault.current_key_id());
        assert_eq!(prefix.len(), STREAM_NONCE_PREFIX_LEN);
        assert_eq!(sealed[0].len(), b"first".len() + 16);
        assert_eq!(sealed[2].len(), 16);
        let plain = open(&vault, &key_id, &prefix, &sealed).unwrap();
        assert_eq!(plain, [b"first".to_vec(), b"second".to_vec(), Vec::new()]);
    }

    #[test]
    fn each_stream_gets_a_fresh_prefix() {
        let vault = vault();
        let a = vault.stream_sealer();
        let b = vault.stream_sealer();
        assert_ne!(a.nonce_prefix(), b.nonce_prefix());
        assert_eq!(format!("{a:?}"), format!("StreamSealer({})", a.key_id()));
    }

    #[test]
    fn a_flipped_bit_anywhere_fails() {
        let vault = vault();
        let (key_id, prefix, sealed) = seal(&vault, &[b"first", b"second"]);
        for chunk in 0..sealed.len() {
            for byte in [0, sealed[chunk].len() - 1] {
                let mut tampered = sealed.clone();
                tampered[chunk][byte] ^= 1;
                assert_eq!(
                    open(&vault, &key_id, &prefix, &tampered),
                    Err(VaultError::Decrypt)
                );
            }
        }
        let mut opener = vault.stream_opener(&key_id, &prefix).unwrap();
        let mut first = sealed[0].clone();
        assert_eq!(
            opener.open_next(b"other header", &mut first),
            Err(VaultError::Decrypt)
        );
    }

    #[test]
    fn reordered_chunks_fail() {
        let vault = vault();
        let (key_id, prefix, sealed) = seal(&vault, &[b"one", b"two", b"three"]);
        let swapped = vec![sealed[1].clone(), sealed[0].clone(), sealed[2].clone()];
        assert_eq!(
            open(&vault, &key_id, &prefix, &swapped),
            Err(VaultError::Decrypt)
        );
    }

    #[test]
    fn a_truncated_stream_fails() {
        let vault = vault();
        let (key_id, prefix, sealed) = seal(&vault, &[b"one", b"two", b"three"]);
        // Stopping early: a middle chunk presented as the last one.
        assert_eq!(
            open(&vault, &key_id, &prefix, &sealed[..2]),
            Err(VaultError::Decrypt)
        );
        // The last chunk presented as a middle one (something was appended after it).
        let mut opener = vault.stream_opener(&key_id, &prefix).unwrap();
        for chunk in &sealed[..2] {
            opener.open_next(AAD, &mut chunk.clone()).unwrap();
        }
        assert_eq!(
            opener.open_next(AAD, &mut sealed[2].clone()),
            Err(VaultError::Decrypt)
        );
    }

    #[test]
    fn another_streams_prefix_fails() {
        let vault = vault();
        let (key_id, _, sealed) = seal(&vault, &[b"one", b"two"]);
        let other = vault.stream_sealer();
        assert_eq!(
            open(&vault, &key_id, other.nonce_prefix(), &sealed),
            Err(VaultError::Decrypt)
        );
    }

    #[test]
    fn unknown_key_id_and_bad_prefix_are_refused() {
        let sealing = vault();
        let (key_id, prefix, _) = seal(&sealing, &[b"one"]);
        let other = vault();
        assert_eq!(
            other.stream_opener(&key_id, &prefix).unwrap_err(),
            VaultError::UnknownKeyId(key_id.clone())
        );
        assert_eq!(
            sealing.stream_opener(&key_id, &prefix[1..]).unwrap_err(),
            VaultError::Malformed
        );
    }

    #[test]
    fn keys_sharing_an_id_are_told_apart_by_the_first_chunk() {
        // Two keys whose 32-bit ids collide (found by search): both stay in the ring.
        let key = |b64: &str| MasterKey::from_base64(b64).unwrap();
        let (a, b) = (
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAf7A=",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABUCM=",
        );
        assert_eq!(key(a).id(), key(b).id());
        let sealing = Vault::new(KeyRing::from_keys(key(b), Vec::new()));
        let opening = Vault::new(KeyRing::from_keys(key(a), vec![key(b)]));
        let chunks: [&[u8]; 3] = [b"one", b"two", b"three"];
        for n in [1, 3] {
            let (key_id, prefix, sealed) = seal(&sealing, &chunks[..n]);
            let plain = open(&opening, &key_id, &prefix, &sealed).unwrap();
            assert_eq!(plain, chunks[..n]);
        }
    }

    #[test]
    fn an_old_key_still_opens_after_rotation() {
        let old = MasterKey::generate();
        let before = Vault::new(KeyRing::from_keys(
            MasterKey::from_base64(old.to_base64().expose_secret()).unwrap(),
            Vec::new(),
        ));
        let (key_id, prefix, sealed) = seal(&before, &[b"one", b"two"]);
        let after = Vault::new(KeyRing::from_keys(MasterKey::generate(), vec![old]));
        assert_ne!(after.current_key_id(), &key_id);
        assert_eq!(open(&after, &key_id, &prefix, &sealed).unwrap()[1], b"two");
    }
}
