/// `error: cause: cause…` — for logs and operator messages of errors whose `Display` leaves the
/// detail to `source()`. Causes whose text the message already contains are skipped.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn joins_causes_once() {
        let err = Outer(std::io::Error::other("disk full"));
        assert_eq!(super::error_chain(&err), "outer: disk full");
    }
}
