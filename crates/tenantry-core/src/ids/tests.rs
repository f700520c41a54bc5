//! Unit tests of the identifiers: parsing, refusals, round trips.

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
fn domain_names() {
    assert_eq!(
        DomainName::parse(" Books.Acme.COM. ").unwrap().as_str(),
        "books.acme.com"
    );
    assert!(DomainName::parse("xn--bcher-kva.example").is_ok());
    assert_eq!(
        DomainName::parse("localhost"),
        Err(DomainError::SingleLabel)
    );
    assert_eq!(DomainName::parse("10.0.0.1"), Err(DomainError::IpAddress));
    assert_eq!(DomainName::parse("::1"), Err(DomainError::IpAddress));
    assert_eq!(DomainName::parse("a.b.c.300"), Err(DomainError::IpAddress));
    for bad in [
        "",
        "a..com",
        "-a.com",
        "a_b.com",
        "bücher.example",
        "a.com:80",
    ] {
        assert!(DomainName::parse(bad).is_err(), "{bad:?} should be refused");
    }
    let long = format!("{}.com", "a.".repeat(130));
    assert!(matches!(
        DomainName::parse(&long),
        Err(DomainError::Length(_))
    ));
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
fn subdomains() {
    assert_eq!(Subdomain::parse("acme-2", &[]).unwrap().as_str(), "acme-2");
    assert_eq!(Subdomain::parse("ab", &[]), Err(SubdomainError::Length(2)));
    assert_eq!(
        Subdomain::parse(&"a".repeat(64), &[]),
        Err(SubdomainError::Length(64))
    );
    assert_eq!(
        Subdomain::parse("Acme", &[]),
        Err(SubdomainError::Character('A'))
    );
    assert_eq!(
        Subdomain::parse("ac_me", &[]),
        Err(SubdomainError::Character('_'))
    );
    assert_eq!(
        Subdomain::parse("acmé", &[]),
        Err(SubdomainError::Character('é'))
    );
    assert_eq!(
        Subdomain::parse("a.b.c", &[]),
        Err(SubdomainError::Character('.'))
    );
    assert_eq!(
        Subdomain::parse("-acme", &[]),
        Err(SubdomainError::EdgeHyphen)
    );
    assert_eq!(
        Subdomain::parse("acme-", &[]),
        Err(SubdomainError::EdgeHyphen)
    );
    assert_eq!(
        Subdomain::parse("www", &[]),
        Err(SubdomainError::Reserved("www".into()))
    );
    assert_eq!(
        Subdomain::parse("admin", &[]),
        Err(SubdomainError::Reserved("admin".into()))
    );
    let extra = vec!["billing2".to_owned()];
    assert_eq!(
        Subdomain::parse("billing2", &extra),
        Err(SubdomainError::Reserved("billing2".into()))
    );
    assert!(Subdomain::parse("billing2", &[]).is_ok());
}

#[test]
fn tenant_ids_round_trip() {
    let id = TenantId::new();
    assert_eq!(id.to_string().parse::<TenantId>().unwrap(), id);
    assert!("nope".parse::<TenantId>().is_err());
}

#[test]
fn tenant_refs() {
    let id = TenantId::new();
    assert_eq!(id.to_string().parse::<TenantRef>(), Ok(TenantRef::Id(id)));
    assert_eq!(
        "acme".parse::<TenantRef>(),
        Ok(TenantRef::Subdomain("acme".into()))
    );
    // Not validated: a name that cannot exist is looked up (and not found), not refused.
    assert_eq!(
        "Not A Name".parse::<TenantRef>(),
        Ok(TenantRef::Subdomain("Not A Name".into()))
    );
    assert_eq!(TenantRef::Id(id).to_string(), id.to_string());
    assert_eq!("acme".parse::<TenantRef>().unwrap().to_string(), "acme");
    let sub = Subdomain::parse("acme", &[]).unwrap();
    assert_eq!(TenantRef::from(&sub), TenantRef::Subdomain("acme".into()));
}

#[test]
fn plan_ids() {
    for good in ["free", "standard", "p2", "0", "a_b-c", &"a".repeat(32)] {
        assert_eq!(PlanId::parse(good).unwrap().as_str(), good);
    }
    assert_eq!(PlanId::parse(""), Err(PlanIdError::Length(0)));
    assert_eq!(PlanId::parse(&"a".repeat(33)), Err(PlanIdError::Length(33)));
    assert_eq!(PlanId::parse("Gold"), Err(PlanIdError::Character('G')));
    assert_eq!(PlanId::parse("a.b"), Err(PlanIdError::Character('.')));
    assert_eq!(PlanId::parse("-x"), Err(PlanIdError::Start));
    assert_eq!(PlanId::parse("_x"), Err(PlanIdError::Start));
    let json = serde_json::to_string(&PlanId::parse("free").unwrap()).unwrap();
    assert_eq!(json, "\"free\"");
    assert!(serde_json::from_str::<PlanId>("\"Free\"").is_err());
    assert_eq!(
        serde_json::from_str::<PlanId>("\"premium\"")
            .unwrap()
            .as_str(),
        "premium"
    );
}

#[test]
fn stored_subdomains_are_not_revalidated() {
    // Reserved after it was taken: still readable.
    assert_eq!(Subdomain::from_stored("www".into()).as_str(), "www");
}
