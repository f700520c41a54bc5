//! Derived SQL identifiers for tenant databases and roles.

use std::fmt;

use tenantry_core::TenantId;

/// PostgreSQL's identifier limit (NAMEDATALEN - 1).
const MAX_IDENT: usize = 63;

/// A database or role name that is safe by construction: `t_<subdomain>_<8 hex>`, only
/// `[a-z0-9_]`, at most 63 bytes. Always emitted quoted by [`DbIdent::quoted`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DbIdent(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Tenantry database identifier (t_<name>_<8 hex>, [a-z0-9_], ≤ 63 bytes)")]
pub struct IdentError(String);

impl DbIdent {
    /// `t_<subdomain, '-' → '_', cut to fit>_<last 8 hex digits of the tenant id>`. The id
    /// suffix keeps names unique even when a subdomain is reused after deletion.
    pub fn derive(subdomain: &str, tenant: TenantId) -> Self {
        let id = tenant.as_uuid().simple().to_string();
        let suffix = &id[id.len() - 8..];
        let stem: String = subdomain
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(MAX_IDENT - 2 - 1 - suffix.len())
            .collect();
        Self(format!("t_{stem}_{suffix}"))
    }

    /// Re-validates a name read back from the registry or a server catalog.
    pub fn parse(name: &str) -> Result<Self, IdentError> {
        let ok = name.len() <= MAX_IDENT
            && name.starts_with("t_")
            && name.len() > 11
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && name[name.len() - 9..].starts_with('_')
            && name[name.len() - 8..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit());
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(IdentError(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `"name"` — the only form in which an identifier enters SQL.
    pub fn quoted(&self) -> String {
        // The character set excludes '"', so no escaping is needed; the quotes make the name
        // case-exact and immune to keywords.
        format!("\"{}\"", self.0)
    }
}

impl fmt::Display for DbIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_are_safe_short_and_parse_back() {
        let id = TenantId::new();
        for sub in ["acme", "a-b-c", &"x".repeat(63)] {
            let name = DbIdent::derive(sub, id);
            assert!(name.as_str().len() <= MAX_IDENT, "{name}");
            assert!(name.as_str().starts_with("t_"));
            assert_eq!(DbIdent::parse(name.as_str()).unwrap(), name);
        }
        assert!(DbIdent::derive("a-b", id).as_str().starts_with("t_a_b_"));
        assert_ne!(
            DbIdent::derive("acme", id),
            DbIdent::derive("acme", TenantId::new())
        );
    }

    #[test]
    fn parse_refuses_anything_else() {
        for bad in [
            "",
            "postgres",
            "template1",
            "t_x",
            "t_acme_1234567",
            "t_Acme_12345678",
            "t_a\"b_12345678",
            "t_acme_1234567g",
        ] {
            assert!(DbIdent::parse(bad).is_err(), "{bad}");
        }
    }
}
