//! Which database errors are the tenant's database being unreachable (503 `database_unavailable`
//! with `Retry-After`, like a pool that cannot connect) and which are not (500): every shape a
//! lost, reset, refused or silent connection takes, built as the drivers build them.

use actix_web::ResponseError;
use sea_orm::{DbErr, RuntimeErr};
use tenantry_http::ApiError;

/// A database error with a given SQLSTATE, as a driver would report it.
#[derive(Debug)]
struct Coded(&'static str);

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SQLSTATE {}", self.0)
    }
}

impl std::error::Error for Coded {}

impl sea_orm::sqlx::error::DatabaseError for Coded {
    fn message(&self) -> &str {
        "test error"
    }
    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.0.into())
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sea_orm::sqlx::error::ErrorKind {
        sea_orm::sqlx::error::ErrorKind::Other
    }
}

fn status_of(e: DbErr) -> (u16, &'static str, Option<String>) {
    let api = ApiError::from(e);
    let res = api.error_response();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (api.status_code().as_u16(), api.code(), retry)
}

#[test]
fn every_connection_loss_shape_is_a_503_and_nothing_else_is() {
    use sea_orm::{ConnAcquireErr, SqlxError};
    use std::sync::Arc;
    let sqlx = |e: SqlxError| RuntimeErr::SqlxError(Arc::new(e));
    let io = || std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    let coded = |code| SqlxError::Database(Box::new(Coded(code)));
    let mut lost = vec![
        DbErr::Conn(RuntimeErr::Internal(
            "tenant database did not answer within 1s".into(),
        )),
        DbErr::Conn(sqlx(SqlxError::Io(io()))),
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
    ];
    for exec in [DbErr::Exec as fn(RuntimeErr) -> DbErr, DbErr::Query] {
        lost.push(exec(sqlx(SqlxError::Io(io()))));
        lost.push(exec(sqlx(SqlxError::Tls("handshake".into()))));
        lost.push(exec(sqlx(SqlxError::Protocol("unexpected message".into()))));
        lost.push(exec(sqlx(SqlxError::PoolTimedOut)));
        lost.push(exec(sqlx(SqlxError::PoolClosed)));
        lost.push(exec(sqlx(SqlxError::WorkerCrashed)));
        for code in [
            "08000", "08003", "08006", "08001", "57P01", "57P02", "57P03", "53300",
        ] {
            lost.push(exec(sqlx(coded(code))));
        }
        lost.push(exec(sqlx(coded("57014"))));
    }
    for e in lost {
        let shown = e.to_string();
        assert_eq!(
            status_of(e),
            (503, "database_unavailable", Some("2".into())),
            "{shown}"
        );
    }

    // A lost race that a retry wins: busy, with Retry-After.
    for code in ["40001", "40P01", "25006", "5", "6", "517", "261"] {
        assert_eq!(
            status_of(DbErr::Query(sqlx(coded(code)))),
            (503, "database_busy", Some("1".into())),
            "{code}"
        );
    }

    // A refused statement or a bug is not an outage.
    let internal = [
        DbErr::Exec(sqlx(coded("23505"))),
        DbErr::Query(sqlx(coded("42P01"))),
        DbErr::Query(sqlx(coded("19"))),
        DbErr::Query(sqlx(SqlxError::RowNotFound)),
        DbErr::Query(RuntimeErr::Internal("could not decode".into())),
        DbErr::Custom("transaction at level 2 ended while the connection is at level 3".into()),
        DbErr::RecordNotFound("ledger".into()),
    ];
    for e in internal {
        let shown = e.to_string();
        assert_eq!(status_of(e), (500, "internal_error", None), "{shown}");
    }
}
