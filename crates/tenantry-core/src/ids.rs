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
uuid_id!(
    /// An admin API token's handle, for listing and revoking it (never the secret itself).
    ApiTokenId
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

/// Subdomains nobody may claim: they name the product's own hosts or invite phishing.
/// Operators can add more with `tenants.reserved_subdomains`.
pub const RESERVED_SUBDOMAINS: &[&str] = &[
    "www",
    "admin",
    "api",
    "app",
    "mail",
    "smtp",
    "imap",
    "pop",
    "ftp",
    "ns1",
    "ns2",
    "dns",
    "static",
    "assets",
    "cdn",
    "status",
    "docs",
    "help",
    "support",
    "blog",
    "dashboard",
    "console",
    "login",
    "auth",
    "oauth",
    "sso",
    "account",
    "accounts",
    "billing",
    "root",
    "system",
    "tenantry",
    "localhost",
    "test",
    "staging",
    "dev",
    "internal",
    "metrics",
    "health",
];

/// Why a subdomain was refused. Each variant says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubdomainError {
    #[error("subdomain must be 3–63 characters, got {0}")]
    Length(usize),
    #[error("subdomain may contain only lowercase letters a–z, digits 0–9 and '-' (found {0:?})")]
    Character(char),
    #[error("subdomain must not start or end with '-'")]
    EdgeHyphen,
    #[error("subdomain {0:?} is reserved")]
    Reserved(String),
}

/// A tenant's subdomain: `acme` in `acme.example.com`. Lowercase a–z, 0–9 and '-', 3–63
/// characters, no leading or trailing '-', not reserved. Input is taken as typed: `Acme` is
/// refused rather than silently lowercased, so what the operator sees is what is stored.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Subdomain(String);

impl Subdomain {
    /// Validates against the built-in reserved list plus `extra_reserved`.
    pub fn parse(s: &str, extra_reserved: &[String]) -> Result<Self, SubdomainError> {
        match check_label(s, 3, 63) {
            Ok(()) => {}
            Err(NameError::Length { len, .. }) => return Err(SubdomainError::Length(len)),
            Err(NameError::Character { found }) => return Err(SubdomainError::Character(found)),
            Err(_) => return Err(SubdomainError::EdgeHyphen),
        }
        if RESERVED_SUBDOMAINS.contains(&s) || extra_reserved.iter().any(|r| r == s) {
            return Err(SubdomainError::Reserved(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// A subdomain read back from the master: it was valid when written, but the reserved list
    /// may have grown since, so it is taken as stored (no validation).
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Subdomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
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
    /// A server name read back from the master (validated when it was written).
    pub fn from_stored(s: String) -> Self {
        Self(s)
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

/// A tenant's own domain (`books.acme.com`), served like its subdomain once verified. Stored
/// lowercased without a trailing dot: at least two labels of a–z, 0–9 and '-' (each 1–63, no
/// edge hyphen), 253 characters at most, not an IP address. Internationalised names are given in
/// their ASCII (punycode, `xn--`) form, as they arrive in a `Host` header.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct DomainName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("must be at most 253 characters, got {0}")]
    Length(usize),
    #[error("must have at least two labels (like example.com)")]
    SingleLabel,
    #[error("label {label:?} {reason}")]
    Label { label: String, reason: NameError },
    #[error("must be a domain name, not an IP address")]
    IpAddress,
}

impl DomainName {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let name = s.trim().trim_end_matches('.').to_ascii_lowercase();
        if name.len() > 253 {
            return Err(DomainError::Length(name.len()));
        }
        if name.parse::<std::net::IpAddr>().is_ok() {
            return Err(DomainError::IpAddress);
        }
        if !name.contains('.') {
            return Err(DomainError::SingleLabel);
        }
        for label in name.split('.') {
            check_label(label, 1, 63).map_err(|reason| DomainError::Label {
                label: label.to_owned(),
                reason,
            })?;
        }
        if name
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(DomainError::IpAddress);
        }
        Ok(Self(name))
    }

    /// A domain read back from the master (normalised and validated when it was written).
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
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
    /// An address read back from the master (normalised and validated when it was written).
    pub fn from_stored(s: String) -> Self {
        Self(s)
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

/// How an operator or client names a tenant: by its id, or by its live subdomain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TenantRef {
    Id(TenantId),
    /// Taken as typed (not validated): a lookup of a name that cannot exist finds nothing.
    Subdomain(String),
}

impl FromStr for TenantRef {
    type Err = std::convert::Infallible;
    /// A UUID is an id; anything else a subdomain.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::from(s))
    }
}

impl fmt::Display for TenantRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Subdomain(s) => f.write_str(s),
        }
    }
}

impl From<&str> for TenantRef {
    /// As [`FromStr`]: a UUID is an id, anything else a subdomain.
    fn from(s: &str) -> Self {
        match s.parse::<TenantId>() {
            Ok(id) => Self::Id(id),
            Err(_) => Self::Subdomain(s.to_owned()),
        }
    }
}

impl From<TenantId> for TenantRef {
    fn from(id: TenantId) -> Self {
        Self::Id(id)
    }
}

impl From<&Subdomain> for TenantRef {
    fn from(s: &Subdomain) -> Self {
        Self::Subdomain(s.as_str().to_owned())
    }
}

mod plan;
pub use plan::{PlanId, PlanIdError};

#[cfg(test)]
mod tests;
