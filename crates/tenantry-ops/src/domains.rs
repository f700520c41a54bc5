//! Custom domains: a tenant served at `books.acme.com` as well as at its subdomain. A domain is
//! claimed pending, and routes only once its owner proved control of it by publishing a random
//! challenge as a TXT record (`_tenantry-challenge.<domain>`), as Vercel or Heroku ask: an
//! unverified claim must never divert another party's traffic.
//!
//! A domain is held by one live tenant at a time. The base domain and every name under it are
//! refused: they are the admin host and the tenants' subdomains.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use serde::Serialize;
use serde_json::json;
use tenantry_core::settings::DomainSettings;
use tenantry_core::{DomainName, TenantId, TenantRef};
use tenantry_registry::{Domain, NewDomain, RegistryError, Tenant};

use crate::{Caller, Operator, OpsError, Permission};

/// The label under a domain where its challenge is published.
pub const CHALLENGE_LABEL: &str = "_tenantry-challenge";
/// What the challenge record's value starts with.
const CHALLENGE_PREFIX: &str = "tenantry-verification=";
/// The longest domain whose challenge name still fits DNS's 253 characters.
const MAX_DOMAIN_LEN: usize = 253 - CHALLENGE_LABEL.len() - 1;

/// What the operator service needs to know about custom domains: the installation's base domain
/// (refused as a custom domain) and the `[domains]` settings.
#[derive(Debug, Clone)]
pub struct DomainRules {
    base_domain: String,
    settings: DomainSettings,
}

impl DomainRules {
    /// `base_domain` as `server.base_domain` holds it (lower case, no trailing dot).
    pub fn new(base_domain: &str, settings: DomainSettings) -> Self {
        Self {
            base_domain: base_domain.to_ascii_lowercase(),
            settings,
        }
    }

    /// The domain an operator asked to add, if it may be claimed at all.
    fn claimable(&self, raw: &str) -> Result<DomainName, OpsError> {
        let domain = DomainName::parse(raw).map_err(|e| OpsError::invalid("domain", e))?;
        let name = domain.as_str();
        let base = &self.base_domain;
        if name == base || name.ends_with(&format!(".{base}")) {
            return Err(OpsError::invalid(
                "domain",
                format!(
                    "{name} is the base domain {base} or under it: those names are the admin \
                     host and the tenants' subdomains"
                ),
            ));
        }
        if name.len() > MAX_DOMAIN_LEN {
            return Err(OpsError::invalid(
                "domain",
                format!(
                    "must be at most {MAX_DOMAIN_LEN} characters, so that its verification \
                     record {CHALLENGE_LABEL}.<domain> fits in DNS"
                ),
            ));
        }
        Ok(domain)
    }
}

/// The DNS record that proves control of a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Verification {
    /// Always `TXT`.
    #[serde(rename = "type")]
    #[schema(example = "TXT")]
    pub record_type: String,
    /// Where to publish it: `_tenantry-challenge.<domain>`.
    #[schema(example = "_tenantry-challenge.books.acme.com")]
    pub name: String,
    /// What to publish: `tenantry-verification=<token>`.
    #[schema(example = "tenantry-verification=3q2-7wEjRWeJq83vASNFZ4mrze8BI0Vn")]
    pub value: String,
}

impl Verification {
    fn new(domain: &DomainName, token: &str) -> Self {
        Self {
            record_type: "TXT".into(),
            name: format!("{CHALLENGE_LABEL}.{domain}"),
            value: format!("{CHALLENGE_PREFIX}{token}"),
        }
    }
}

/// A tenant's custom domain, as callers see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DomainView {
    /// Lower case, without a trailing dot.
    #[schema(example = "books.acme.com")]
    pub domain: String,
    /// The tenant that holds it.
    #[schema(value_type = String, format = "uuid")]
    pub tenant: TenantId,
    /// Whether it routes to the tenant (only verified domains do).
    pub verified: bool,
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The record that proves (or proved) control of the domain; it may be deleted from DNS once
    /// the domain is verified. `null` for a domain Tenantry added already verified.
    pub verification: Option<Verification>,
}

impl From<&Domain> for DomainView {
    fn from(d: &Domain) -> Self {
        Self {
            domain: d.domain.to_string(),
            tenant: d.tenant,
            verified: d.is_verified(),
            verified_at: d.verified_at,
            created_at: d.created_at,
            verification: d
                .verification_token
                .as_deref()
                .map(|token| Verification::new(&d.domain, token)),
        }
    }
}

/// A domain named in a request to act on an existing one: a name no domain can have is simply
/// not found.
fn held(raw: &str) -> Result<DomainName, OpsError> {
    DomainName::parse(raw).map_err(|_| OpsError::NotFound {
        what: format!("domain {raw:?}"),
    })
}

/// A fresh challenge token: 192 random bits, base64url.
fn challenge_token() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Operator {
    /// The domains of a live tenant, oldest first.
    pub async fn list_domains(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
    ) -> Result<Vec<DomainView>, OpsError> {
        caller.require(Permission::Read)?;
        let t = self.live_tenant(tenant).await?;
        let domains = self.registry().tenant_domains(t.id).await?;
        Ok(domains.iter().map(DomainView::from).collect())
    }

    /// Claims `domain` for a live tenant, pending verification: the answer says which TXT record
    /// to publish. Taken by any tenant → `Conflict`; the base domain or a name under it, or a
    /// tenant already holding `domains.max_per_tenant` → `Invalid`.
    pub async fn add_domain(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
        domain: &str,
    ) -> Result<DomainView, OpsError> {
        caller.require(Permission::Tenants)?;
        let rules = self.domain_rules();
        let domain = rules.claimable(domain)?;
        let t = self.live_tenant(tenant).await?;
        let max = rules.settings.max_per_tenant;
        let detail = json!({ "subdomain": t.subdomain, "domain": domain.as_str() });
        let claim = NewDomain {
            tenant: t.id,
            domain: domain.clone(),
            verification_token: challenge_token(),
            max_per_tenant: u64::from(max),
        };
        let added = self
            .registry()
            .claim_domain(claim, caller.audit("domain.add", Some(t.id), detail))
            .await
            .map_err(|e| match e {
                RegistryError::Invalid { .. } => OpsError::invalid(
                    "domain",
                    format!(
                        "tenant {} already holds {max} custom domains, the most allowed \
                         (domains.max_per_tenant): remove one first",
                        t.subdomain
                    ),
                ),
                e => e.into(),
            })?;
        Ok(DomainView::from(&added))
    }

    /// Looks the domain's challenge up in DNS and, when the expected TXT value is there, marks
    /// the domain verified: it routes to the tenant within a second in every `serve`. Already
    /// verified → the domain as it is. Not there → `DomainUnverified`, naming the record.
    pub async fn verify_domain(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
        domain: &str,
    ) -> Result<DomainView, OpsError> {
        caller.require(Permission::Tenants)?;
        let t = self.live_tenant(tenant).await?;
        let domain = held(domain)?;
        let current = self.owned_domain(&t, &domain).await?;
        if current.is_verified() {
            return Ok(DomainView::from(&current));
        }
        let Some(token) = current.verification_token.as_deref() else {
            return Err(OpsError::InvalidState(format!(
                "domain {domain} has no verification challenge: remove it and add it again"
            )));
        };
        let expected = Verification::new(&domain, token);
        let settings = &self.domain_rules().settings;
        let found = crate::dns::txt_values(&format!("{}.", expected.name), settings).await?;
        let matches = |v: &String| v.trim().trim_matches('"') == expected.value;
        if !found.iter().any(matches) {
            return Err(OpsError::DomainUnverified {
                domain: domain.to_string(),
                record: expected.name,
                expected: expected.value,
                found: found.len(),
            });
        }
        let detail = json!({
            "subdomain": t.subdomain,
            "domain": domain.as_str(),
            "record": expected.name,
        });
        let verified = self
            .registry()
            .mark_domain_verified(
                t.id,
                &domain,
                token,
                caller.audit("domain.verify", Some(t.id), detail),
            )
            .await?;
        tracing::info!(tenant = %t.subdomain, domain = %domain, "custom domain verified");
        Ok(DomainView::from(&verified))
    }

    /// Removes a tenant's domain: it stops routing within a second in every `serve`. Answers the
    /// tenant's id.
    pub async fn remove_domain(
        &self,
        caller: &Caller,
        tenant: &TenantRef,
        domain: &str,
    ) -> Result<TenantId, OpsError> {
        caller.require(Permission::Tenants)?;
        let t = self.live_tenant(tenant).await?;
        let domain = held(domain)?;
        let detail = json!({ "subdomain": t.subdomain, "domain": domain.as_str() });
        self.registry()
            .remove_domain(
                t.id,
                &domain,
                caller.audit("domain.remove", Some(t.id), detail),
            )
            .await?;
        Ok(t.id)
    }

    async fn live_tenant(&self, tenant: &TenantRef) -> Result<Tenant, OpsError> {
        let t = self.registry().find_tenant(tenant).await?;
        if t.is_live() {
            Ok(t)
        } else {
            Err(OpsError::NotFound {
                what: format!("tenant {tenant}"),
            })
        }
    }

    /// `domain` if `t` holds it; another tenant's domain is as unknown as a missing one.
    async fn owned_domain(&self, t: &Tenant, domain: &DomainName) -> Result<Domain, OpsError> {
        self.registry()
            .tenant_domain(t.id, domain)
            .await?
            .ok_or_else(|| OpsError::NotFound {
                what: format!("domain {domain} of tenant {}", t.subdomain),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> DomainRules {
        let settings = tenantry_core::Settings::embedded_default().domains;
        DomainRules::new("tenantry.example", settings)
    }

    #[test]
    fn the_base_domain_and_names_under_it_are_refused() {
        let rules = rules();
        for bad in [
            "tenantry.example",
            "acme.tenantry.example",
            "x.acme.tenantry.example",
        ] {
            assert!(rules.claimable(bad).is_err(), "{bad}");
        }
        assert!(rules.claimable("eviltenantry.example").is_ok());
        assert!(rules.claimable("Books.Acme.COM.").is_ok());
        assert!(rules.claimable("no_underscores.example").is_err());
        let long = format!("{}.example", vec!["a".repeat(60); 4].join("."));
        assert!(
            rules.claimable(&long).is_err(),
            "challenge name would not fit"
        );
    }

    #[test]
    fn challenges_are_random_and_long_enough() {
        let (a, b) = (challenge_token(), challenge_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32, "192 bits, base64url");
        let v = Verification::new(&DomainName::parse("books.acme.com").unwrap(), &a);
        assert_eq!(v.name, "_tenantry-challenge.books.acme.com");
        assert_eq!(v.value, format!("tenantry-verification={a}"));
    }
}
