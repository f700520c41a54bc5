//! The one password policy for people who log in (tenant users, tenant admins, operators),
//! whichever door the password comes through: the tenant API, `tenants create
//! --admin-password-stdin`, `admins create --password-stdin`. Keeping it here means the CLI can
//! never accept what the API would refuse.
//!
//! Length is what makes a password strong against offline guessing; the upper bound only limits
//! the argon2id work one request can ask for. Characters are counted as Unicode scalar values, so
//! a passphrase in any script counts the same as one in ASCII.

/// Fewest characters a password may have.
pub const MIN_CHARS: usize = 12;
/// Most characters a password may have: room for any passphrase.
pub const MAX_CHARS: usize = 1024;

/// The rule, as every refusal states it.
pub const RULE: &str =
    "a password must be 12 to 1024 characters and not one character repeated throughout";

/// Why a password was refused. `Display` states the rule and never echoes the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("too short ({0} characters): {RULE}")]
    TooShort(usize),
    #[error("too long ({0} characters): {RULE}")]
    TooLong(usize),
    #[error("one character repeated: {RULE}")]
    Repeated,
}

/// Checks `password` against the policy.
pub fn check(password: &str) -> Result<(), WeakPassword> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(WeakPassword::TooShort(chars));
    }
    if chars > MAX_CHARS {
        return Err(WeakPassword::TooLong(chars));
    }
    let mut all = password.chars();
    let first = all.next();
    if all.all(|c| Some(c) == first) {
        return Err(WeakPassword::Repeated);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn the_rule_names_both_bounds_as_the_constants_say() {
        assert!(RULE.contains(&format!("{MIN_CHARS} to {MAX_CHARS} characters")));
    }

    #[test]
    fn length_is_bounded_on_both_sides() {
        assert_eq!(check("x"), Err(WeakPassword::TooShort(1)));
        assert_eq!(check(""), Err(WeakPassword::TooShort(0)));
        assert_eq!(check("elevenchars"), Err(WeakPassword::TooShort(11)));
        assert_eq!(check("twelve chars"), Ok(()));
        let longest = "ab".repeat(MAX_CHARS / 2);
        assert_eq!(check(&longest), Ok(()));
        assert_eq!(
            check(&format!("{longest}c")),
            Err(WeakPassword::TooLong(MAX_CHARS + 1))
        );
    }

    #[test]
    fn characters_are_counted_not_bytes() {
        // 11 characters but 33 bytes: still too short.
        let eleven = "日本語のパスワードです";
        assert_eq!(eleven.chars().count(), 11);
        assert_eq!(check(eleven), Err(WeakPassword::TooShort(11)));
        assert_eq!(check(&format!("{eleven}!")), Ok(()));
        // 1024 characters of four bytes each: long in bytes, allowed in characters.
        let wide = "😀🔑".repeat(MAX_CHARS / 2);
        assert_eq!(check(&wide), Ok(()));
    }

    #[test]
    fn one_repeated_character_is_refused_at_any_length() {
        assert_eq!(check(&"a".repeat(12)), Err(WeakPassword::Repeated));
        assert_eq!(check(&"é".repeat(MAX_CHARS)), Err(WeakPassword::Repeated));
        assert_eq!(check(&format!("{}b", "a".repeat(11))), Ok(()));
        assert_eq!(check(&format!("b{}", "a".repeat(11))), Ok(()));
    }

    #[test]
    fn every_refusal_states_the_rule_without_the_password() {
        for password in ["hunter2", "zzzzzzzzzzzzzzzz", &"ab".repeat(600)] {
            let message = check(password).unwrap_err().to_string();
            assert!(message.ends_with(RULE), "{message}");
            assert!(!message.contains(password), "{message}");
        }
    }

    #[test]
    fn generated_one_time_passwords_pass() {
        for _ in 0..100 {
            let generated = crate::vault::random_password();
            assert_eq!(check(generated.expose_secret()), Ok(()));
        }
    }
}
