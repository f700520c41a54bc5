//! Why a connection to a database server failed, in words an operator can act on.
//!
//! sqlx reports a refused port, a silent host and a wrong password very differently, and its
//! pool hides all of them behind "pool timed out while waiting for an open connection" (it
//! retries a refusal until its acquire timeout). Every place that shows an operator a server
//! connection error (`servers add`, `doctor`, `reconcile`'s unreachable-server drift, provisioning
//! errors) goes through [`ConnectFailure`], and checks a server with [`connect_once`]: one
//! attempt under an explicit deadline.
//!
//! Messages carry the server's own words (which name the user, never a password) or an I/O
//! error; neither sqlx nor PostgreSQL puts the connection URL in them.

use std::fmt;
use std::io::ErrorKind;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// The cause of a failed connection attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Nothing listens at the address (TCP RST, or no Unix socket file).
    Refused,
    /// No answer before the deadline: a firewall dropping packets, a wrong host, or a server
    /// too busy to answer. `None` when the deadline is not known (a pool's acquire timeout).
    TimedOut(Option<Duration>),
    /// The server refused the credentials or has no `pg_hba.conf` entry for this client
    /// (SQLSTATE class 28). Holds the server's message.
    AuthFailed(String),
    /// The database named in the URL does not exist (3D000). Holds the server's message.
    NoDatabase(String),
    /// The host name could not be resolved.
    Dns(String),
    /// The TLS handshake failed (certificate, protocol, or a server without TLS under
    /// `sslmode=require`).
    Tls(String),
    Other(String),
}

impl ConnectFailure {
    pub fn classify(err: &sqlx::Error) -> Self {
        match err {
            sqlx::Error::Io(io) => match io.kind() {
                ErrorKind::ConnectionRefused | ErrorKind::NotFound => Self::Refused,
                ErrorKind::TimedOut => Self::TimedOut(None),
                // std's resolver error has no kind of its own (`Uncategorized`): only its text
                // tells it apart.
                _ if io.to_string().contains("lookup address") => Self::Dns(io.to_string()),
                ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::UnexpectedEof
                | ErrorKind::BrokenPipe => Self::Other(format!(
                    "the server closed the connection during the handshake ({io})"
                )),
                _ => Self::Other(io.to_string()),
            },
            sqlx::Error::Tls(e) => Self::Tls(e.to_string()),
            sqlx::Error::PoolTimedOut => Self::TimedOut(None),
            sqlx::Error::Database(db) => {
                let message = db.message().to_owned();
                match db.code().as_deref() {
                    Some(code) if code.starts_with("28") => Self::AuthFailed(message),
                    Some("3D000") => Self::NoDatabase(message),
                    Some("53300") => Self::Other(format!("the server is full: {message}")),
                    Some("57P03") => Self::Other(format!(
                        "the server is starting up or shutting down: {message}"
                    )),
                    Some(code) => Self::Other(format!("{message} (SQLSTATE {code})")),
                    None => Self::Other(message),
                }
            }
            sqlx::Error::Protocol(message) => Self::Other(format!(
                "the server does not speak the PostgreSQL protocol ({message})"
            )),
            other => Self::Other(other.to_string()),
        }
    }

    /// The cause inside a sea-orm error, if it is a sqlx error; `None` for sea-orm's own.
    pub fn from_db_err(err: &sea_orm::DbErr) -> Option<Self> {
        use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};
        match err {
            DbErr::Conn(RuntimeErr::SqlxError(e))
            | DbErr::Exec(RuntimeErr::SqlxError(e))
            | DbErr::Query(RuntimeErr::SqlxError(e)) => Some(Self::classify(e)),
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => Some(Self::TimedOut(None)),
            _ => None,
        }
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused => f.write_str(
                "connection refused: nothing listens at that host and port (is the server \
                 running, and is the port right?)",
            ),
            Self::TimedOut(Some(after)) => write!(
                f,
                "connection timed out: no answer within {:.1}s (wrong host, a firewall dropping \
                 packets, or an overloaded server)",
                after.as_secs_f64()
            ),
            Self::TimedOut(None) => f.write_str(
                "connection timed out: no answer (wrong host, a firewall dropping packets, or \
                 an overloaded server)",
            ),
            Self::AuthFailed(message) => write!(
                f,
                "authentication failed: {message} (check the user, its password and pg_hba.conf)"
            ),
            // PostgreSQL says `database "x" does not exist`; a pooler may word it otherwise.
            Self::NoDatabase(message) if message.contains("does not exist") => f.write_str(message),
            Self::NoDatabase(message) => write!(f, "database does not exist: {message}"),
            Self::Dns(message) => write!(f, "cannot resolve the host name: {message}"),
            Self::Tls(message) => write!(f, "TLS handshake failed: {message}"),
            Self::Other(message) => f.write_str(message),
        }
    }
}

/// The operator-facing cause of `err`.
pub fn describe(err: &sqlx::Error) -> String {
    ConnectFailure::classify(err).to_string()
}

/// One connection attempt, given up after `timeout`. Unlike a pool's acquire, a refusal is
/// reported at once instead of being retried until a deadline that then hides its cause.
pub async fn connect_once(
    options: &PgConnectOptions,
    timeout: Duration,
) -> Result<PgConnection, ConnectFailure> {
    match tokio::time::timeout(timeout, PgConnection::connect_with(options)).await {
        Err(_) => Err(ConnectFailure::TimedOut(Some(timeout))),
        Ok(Err(e)) => Err(ConnectFailure::classify(&e)),
        Ok(Ok(conn)) => Ok(conn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_name_their_cause() {
        let io = |kind, text: &str| sqlx::Error::Io(std::io::Error::new(kind, text.to_owned()));
        assert_eq!(
            ConnectFailure::classify(&io(ErrorKind::ConnectionRefused, "refused")),
            ConnectFailure::Refused
        );
        let dns = ConnectFailure::classify(&io(
            ErrorKind::Other,
            "failed to lookup address information: Name or service not known",
        ));
        assert!(matches!(dns, ConnectFailure::Dns(_)), "{dns:?}");
        assert!(dns.to_string().contains("resolve"), "{dns}");
        let timed_out = ConnectFailure::TimedOut(Some(Duration::from_millis(1500)));
        assert!(timed_out.to_string().contains("within 1.5s"), "{timed_out}");
        assert!(
            describe(&sqlx::Error::PoolTimedOut).contains("timed out"),
            "a pool timeout is still called a timeout"
        );
    }
}
