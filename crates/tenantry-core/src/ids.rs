//! Identifiers. Parse, don't validate: raw strings stop at the edge, and a value of these types is
//! valid by construction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7: ids sort by creation, which keeps indexes compact).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A tenant's permanent id. Subdomains can be reused after deletion; ids never are.
    TenantId
);
uuid_id!(
    /// A registered database server that hosts tenant databases.
    DbServerId
);
uuid_id!(
    /// An operator of the Tenantry installation.
    AdminId
);

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("must be {min}–{max} characters, got {len}")]
    Length { min: usize, max: usize, len: usize },
    #[error("may contain only lowercase letters a–z, digits 0–9 and '-' (found {found:?})")]
    Character { found: char },
    #[error("must not start or end with '-'")]
    EdgeHyphen,
    #[error("is not a valid email address (expected local@domain)")]
    Email,
}

fn check_label(s: &str, min: usize, max: usize) -> Result<(), NameError> {
    let len = s.chars().count();
    if !(min..=max).contains(&len) {
        return Err(NameError::Length { min, max, len });
    }
    if let Some(found) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(NameError::Character { found });
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(NameError::EdgeHyphen);
    }
    Ok(())
}

/// The operator-chosen name of a database server (`servers add NAME`): 1–63 chars of a–z, 0–9, '-'.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ServerName(String);

impl ServerName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        check_label(s, 1, 63)?;
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, trimmed and lowercased so lookups are case-insensitive. Checked for shape
/// only (one '@', non-empty parts, no spaces): deliverability is not our business.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let s = s.trim().to_lowercase();
        let ok = matches!(s.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
                && !domain.ends_with('.') && !domain.contains('@'))
            && s.len() <= 254
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Self(s))
        } else {
            Err(NameError::Email)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        assert!(ServerName::parse("pg-eu-1").is_ok());
        assert_eq!(
            ServerName::parse(""),
            Err(NameError::Length {
                min: 1,
                max: 63,
                len: 0
            })
        );
        assert_eq!(
            ServerName::parse("PG"),
            Err(NameError::Character { found: 'P' })
        );
        assert_eq!(ServerName::parse("-pg"), Err(NameError::EdgeHyphen));
        assert!(ServerName::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse(" Ops@Example.COM ").unwrap().as_str(),
            "ops@example.com"
        );
        for bad in [
            "",
            "ops",
            "@x.com",
            "ops@",
            "ops@x",
            "a b@x.com",
            "a@b@c.com",
            "ops@.com",
        ] {
            assert_eq!(Email::parse(bad), Err(NameError::Email), "{bad:?}");
        }
    }

    #[test]
    fn tenant_ids_round_trip() {
        let id = TenantId::new();
        assert_eq!(id.to_string().parse::<TenantId>().unwrap(), id);
        assert!("nope".parse::<TenantId>().is_err());
    }
}
