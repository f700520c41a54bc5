//! Which tenant a `Host` names. Hosts are case-insensitive (RFC 4343) and may end in a dot (a
//! fully qualified name): both are normalised away. Anything that is not a syntactically valid
//! DNS name with an optional port is [`HostError`] (400); a valid name that is not a single
//! label under the base domain is simply not a tenant host (404 upstream).

/// What a (valid) host means to us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKind {
    /// The base domain itself: the admin API, never a tenant.
    Apex,
    /// One label under the base domain: a candidate tenant subdomain (still to be looked up).
    Subdomain(String),
    /// A name outside the base domain: a candidate custom domain (still to be looked up).
    /// Lowercase, without port or trailing dot.
    Domain(String),
    /// More than one label under the base domain (`x.acme.localhost`): never a tenant.
    Nested,
    /// Any other valid host: an IP literal.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("empty")]
    Empty,
    #[error("too long")]
    TooLong,
    #[error("bad port")]
    Port,
    #[error("bad label")]
    Label,
}

impl HostError {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Empty => "empty host",
            Self::TooLong => "host too long",
            Self::Port => "invalid port",
            Self::Label => "invalid host name",
        }
    }
}

/// The base domain as configured, normalised the same way as hosts.
pub fn normalise_base_domain(base: &str) -> String {
    base.trim_end_matches('.').to_ascii_lowercase()
}

/// Classifies a raw `Host` value against `base_domain` (already normalised).
pub fn classify(raw: &str, base_domain: &str) -> Result<HostKind, HostError> {
    if raw.is_empty() {
        return Err(HostError::Empty);
    }
    // 253 for the name, plus a dot and ":65535".
    if raw.len() > 253 + 1 + 6 {
        return Err(HostError::TooLong);
    }
    if let Some(literal) = raw.strip_prefix('[') {
        // An IPv6 literal, `[::1]` or `[::1]:8080`.
        let (addr, rest) = literal.split_once(']').ok_or(HostError::Label)?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| HostError::Label)?;
        if !rest.is_empty() {
            check_port(rest.strip_prefix(':').ok_or(HostError::Port)?)?;
        }
        return Ok(HostKind::Other);
    }
    let name = match raw.rsplit_once(':') {
        Some((name, port)) => {
            check_port(port)?;
            name
        }
        None => raw,
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err(HostError::Empty);
    }
    if name.len() > 253 {
        return Err(HostError::TooLong);
    }
    let name = name.to_ascii_lowercase();
    if !name.split('.').all(valid_label) {
        return Err(HostError::Label);
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(HostKind::Other);
    }
    if name == base_domain {
        return Ok(HostKind::Apex);
    }
    match name
        .strip_suffix(base_domain)
        .and_then(|p| p.strip_suffix('.'))
    {
        Some(label) if !label.contains('.') => Ok(HostKind::Subdomain(label.to_owned())),
        Some(_) => Ok(HostKind::Nested),
        // A dotted name whose last label is not all digits (`1.2.3.4.5` is nobody's domain).
        None if name.contains('.')
            && !name
                .rsplit('.')
                .next()
                .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Ok(HostKind::Domain(name))
        }
        None => Ok(HostKind::Other),
    }
}

fn check_port(port: &str) -> Result<(), HostError> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError::Port);
    }
    port.parse::<u16>().map(|_| ()).map_err(|_| HostError::Port)
}

fn valid_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(raw: &str) -> Result<HostKind, HostError> {
        classify(raw, "localhost")
    }

    #[test]
    fn tenant_hosts() {
        let acme = Ok(HostKind::Subdomain("acme".into()));
        assert_eq!(c("acme.localhost:8080"), acme);
        assert_eq!(c("acme.localhost"), acme);
        assert_eq!(c("ACME.LocalHost:8080"), acme);
        assert_eq!(c("acme.localhost."), acme);
        assert_eq!(c("acme.localhost.:80"), acme);
    }

    #[test]
    fn not_tenant_hosts() {
        assert_eq!(c("localhost:8080"), Ok(HostKind::Apex));
        assert_eq!(c("localhost."), Ok(HostKind::Apex));
        assert_eq!(c("a.b.localhost"), Ok(HostKind::Nested));
        assert_eq!(c("127.0.0.1:8080"), Ok(HostKind::Other));
        assert_eq!(c("[::1]:8080"), Ok(HostKind::Other));
        assert_eq!(c("evillocalhost"), Ok(HostKind::Other));
        assert_eq!(c("1.2.3.4.5"), Ok(HostKind::Other));
    }

    #[test]
    fn custom_domain_hosts() {
        let books = Ok(HostKind::Domain("books.acme.com".into()));
        assert_eq!(c("books.acme.com"), books);
        assert_eq!(c("Books.ACME.com.:443"), books);
        assert_eq!(
            c("evil.localhost.example"),
            Ok(HostKind::Domain("evil.localhost.example".into()))
        );
    }

    #[test]
    fn malformed_hosts() {
        for raw in [
            "",
            ":8080",
            "acme.localhost:",
            "acme.localhost:99999",
            "acme.localhost:8o",
            "acme..localhost",
            ".localhost",
            "ac_me.localhost",
            "-acme.localhost",
            "acmé.localhost",
            "[::1",
            "[zz]:1",
            "acme.localhost..",
            "a b.localhost",
        ] {
            assert!(c(raw).is_err(), "{raw:?} should be malformed");
        }
        assert_eq!(c(&"a".repeat(300)), Err(HostError::TooLong));
        let long = format!("{}.localhost", ["abc"; 70].join("."));
        assert!(c(&long).is_err());
    }
}
