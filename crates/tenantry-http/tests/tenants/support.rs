//! What several themes share: the Host that names a tenant by its subdomain.

pub(crate) fn host(sub: &str) -> String {
    format!("{sub}.localhost")
}
