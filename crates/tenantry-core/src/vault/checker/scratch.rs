//! argon2id in memory a worker allocates once and keeps: the same hashes and answers as
//! [`crate::vault::password`] (argon2's own hasher and verifier), without a 19 MiB allocation
//! and free per check.

use argon2::password_hash::{generate_salt, phc::Output};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, PasswordHash, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use crate::vault::password::PasswordError;

/// The largest memory cost (KiB) a stored hash may ask for: 4× argon2's default.
const MAX_M_COST_KIB: u32 = 4 * Params::DEFAULT_M_COST;
/// The largest time cost a stored hash may ask for: 4× argon2's default (a worker is shared by
/// every tenant, and a check has no deadline).
const MAX_T_COST: u32 = 4 * Params::DEFAULT_T_COST;
/// The largest parallelism a stored hash may ask for.
const MAX_P_COST: u32 = 8;

/// A worker's argon2 working memory, grown to the largest cost seen and reused by every check.
/// Like argon2's own per-check buffer, it is not wiped between checks.
#[derive(Default)]
pub(super) struct Scratch(Vec<Block>);

impl Scratch {
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let needed = params.block_count();
        if self.0.len() < needed {
            self.0.resize(needed, Block::default());
        }
        &mut self.0[..needed]
    }

    /// [`crate::vault::verify_password`], in this scratch memory: argon2id only, at the cost the
    /// stored hash records, compared in constant time.
    pub(super) fn verify(
        &mut self,
        password: &SecretString,
        phc: &str,
    ) -> Result<bool, PasswordError> {
        let hash = PasswordHash::new(phc).map_err(|_| PasswordError::InvalidHash)?;
        let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
            return Err(PasswordError::InvalidHash);
        };
        if hash.algorithm != ARGON2ID_IDENT {
            return Err(PasswordError::InvalidHash);
        }
        let params = Params::try_from(&hash).map_err(|_| PasswordError::InvalidHash)?;
        // The scratch memory grows to the largest cost seen and stays: a stored hash asking for
        // more than a few times the default must not make a worker keep gigabytes.
        if params.m_cost() > MAX_M_COST_KIB
            || params.t_cost() > MAX_T_COST
            || params.p_cost() > MAX_P_COST
        {
            return Err(PasswordError::InvalidHash);
        }
        let version = hash
            .version
            .map_or(Ok(Version::default()), Version::try_from)
            .map_err(|_| PasswordError::InvalidHash)?;
        let mut out = Zeroizing::new(vec![0u8; expected.len()]);
        Argon2::new(Algorithm::Argon2id, version, params.clone())
            .hash_password_into_with_memory(
                password.expose_secret().as_bytes(),
                salt,
                &mut out,
                self.blocks(&params),
            )
            .map_err(stored_hash_error)?;
        let computed = Output::new(&out).map_err(|_| PasswordError::InvalidHash)?;
        // `Output`'s equality is constant-time.
        Ok(&computed == expected)
    }

    /// [`crate::vault::hash_password`], in this scratch memory: argon2id at the default cost.
    pub(super) fn hash(&mut self, password: &SecretString) -> Result<String, PasswordError> {
        let salt = generate_salt();
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        Argon2::default()
            .hash_password_into_with_memory(
                password.expose_secret().as_bytes(),
                &salt,
                &mut out,
                self.blocks(&Params::DEFAULT),
            )
            .map_err(|e| PasswordError::Hashing(e.into()))?;
        Ok(phc_string(&salt, &out))
    }
}

/// Inputs a stored hash decides (salt, output length) are its fault; anything else is hashing's.
fn stored_hash_error(e: argon2::Error) -> PasswordError {
    match e {
        argon2::Error::SaltTooShort
        | argon2::Error::SaltTooLong
        | argon2::Error::OutputTooShort
        | argon2::Error::OutputTooLong => PasswordError::InvalidHash,
        e => PasswordError::Hashing(e.into()),
    }
}

/// The PHC string of an argon2id hash at the default cost (what `hash_password` writes).
fn phc_string(salt: &[u8], output: &[u8]) -> String {
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        Params::DEFAULT_M_COST,
        Params::DEFAULT_T_COST,
        Params::DEFAULT_P_COST,
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(output),
    )
}

/// A PHC string with argon2's default parameters and random salt and output: checking against
/// it costs a full argon2id run but never matches, and building it costs nothing.
pub(super) fn decoy_hash() -> String {
    let mut salt = [0u8; 16];
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    rand::rng().fill_bytes(&mut salt);
    rand::rng().fill_bytes(&mut output);
    phc_string(&salt, &output)
}

#[cfg(test)]
mod tests {
    use argon2::PasswordHasher as _;

    use super::*;
    use crate::vault::{hash_password, verify_password};

    fn secret(s: &str) -> SecretString {
        SecretString::from(s)
    }

    /// A hash at a cost other than the default (never lower: a check must not get cheaper).
    fn hash_at(password: &str, m_cost: u32, t_cost: u32) -> String {
        let params = Params::new(m_cost, t_cost, 1, None).unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.as_bytes())
            .unwrap()
            .to_string()
    }

    /// Both ways: argon2's verifier accepts our hashes, and we accept (and refuse) exactly
    /// what it does, at any cost, in memory reused from check to check.
    #[test]
    fn agrees_with_the_password_module() {
        let mut scratch = Scratch::default();
        let pw = "correct horse";
        let ours = scratch.hash(&secret(pw)).unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        assert_ne!(ours, scratch.hash(&secret(pw)).unwrap(), "salted");
        assert!(verify_password(&secret(pw), &ours).unwrap());
        assert!(!verify_password(&secret("correct horsf"), &ours).unwrap());

        // Theirs at the default cost, at a larger memory cost (the scratch grows), and at a
        // higher time cost after it (a part of the grown scratch).
        for theirs in [
            hash_password(&secret(pw)).unwrap(),
            hash_at(pw, 2 * Params::DEFAULT_M_COST, 1),
            hash_at(pw, Params::DEFAULT_M_COST, 3),
        ] {
            assert!(scratch.verify(&secret(pw), &theirs).unwrap(), "{theirs}");
            for wrong in ["correct horsf", "", "correct horse "] {
                assert!(!scratch.verify(&secret(wrong), &theirs).unwrap());
            }
        }
        assert_eq!(scratch.0.len(), 2 * Params::DEFAULT_M_COST as usize);

        let good = hash_password(&secret(pw)).unwrap();
        let without_hash = good.rsplit_once('$').unwrap().0.to_owned();
        for phc in [
            "",
            "$md5$nope",
            "$argon2id$v=19$m=19456,t=2,p=1",
            &without_hash,
            &good.replacen("argon2id", "argon2i", 1),
            &good.replacen("v=19", "v=7", 1),
            &good.replacen("m=19456", "m=abc", 1),
            &format!("{good}$extra"),
        ] {
            let theirs = verify_password(&secret(pw), phc);
            assert!(matches!(theirs, Err(PasswordError::InvalidHash)), "{phc:?}");
            let ours = scratch.verify(&secret(pw), phc);
            assert!(
                matches!(ours, Err(PasswordError::InvalidHash)),
                "{phc:?}: {ours:?}"
            );
        }
    }

    #[test]
    fn the_decoy_matches_nothing_and_costs_what_a_real_hash_costs() {
        let decoy = decoy_hash();
        let real = hash_password(&secret("pw")).unwrap();
        let params = |phc: &str| phc.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(&decoy), params(&real));
        assert_ne!(decoy, decoy_hash());
        let mut scratch = Scratch::default();
        for guess in ["pw", "", "decoy"] {
            assert!(!scratch.verify(&secret(guess), &decoy).unwrap());
            assert!(!verify_password(&secret(guess), &decoy).unwrap());
        }
    }

    #[test]
    fn a_stored_hash_cannot_make_a_worker_keep_gigabytes() {
        let real = hash_password(&secret("pw")).unwrap();
        let mut scratch = Scratch::default();
        for huge in [
            real.replacen("m=19456", "m=4194304", 1),
            real.replacen("t=2", "t=4294967295", 1),
        ] {
            assert_ne!(huge, real);
            assert!(matches!(
                scratch.verify(&secret("pw"), &huge),
                Err(PasswordError::InvalidHash)
            ));
        }
        assert!(scratch.0.is_empty(), "nothing was allocated for it");
    }
}
