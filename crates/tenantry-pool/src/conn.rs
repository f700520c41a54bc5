//! One physical connection to a tenant database, owned by its slot for the slot's whole life.
//!
//! Queries run on the connection itself: no checkout from a pool per query, no task spawned to
//! give it back, and no ping after every query (sqlx pings each connection it takes back into a
//! pool: one round trip per query, which a slot leased for a whole request would wait for before
//! its next query). A slot is checked only when something may have left it in an unknown state —
//! a query interrupted mid-way, a transaction dropped while open, an error — and then it is
//! pinged (which also sends a queued rollback) before anyone else uses it, and closed if that
//! fails.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::{
    DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, SqliteTransactionMode, Statement,
    TransactionOptions,
};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Database, Executor, SqlSafeStr, Sqlite};
use sqlx_core::transaction::TransactionManager;
use tokio::sync::{Mutex, MutexGuard};

use crate::driver::{
    begin_postgres, commit, exec_err, query, query_err, rollback, start_rollback, transaction_depth,
};
use crate::state::{Home, Homed};

/// The connection, by backend.
enum Raw {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the connection, whichever backend it is.
macro_rules! on_raw {
    ($raw:expr, $c:ident => $body:expr) => {
        match $raw {
            Raw::Postgres($c) => $body,
            Raw::Sqlite($c) => $body,
        }
    };
}

/// One open connection and what is known about its state.
pub(crate) struct Slot {
    raw: Mutex<Raw>,
    backend: DbBackend,
    /// Something during the lease may have left the connection mid-protocol or inside a
    /// transaction (an interrupted or failed operation, a transaction dropped open): it is
    /// checked before it is reused. Cleared only by [`Self::settle`].
    unsettled: AtomicBool,
    /// The connection cannot be brought back to a known state (a `BEGIN` interrupted before its
    /// answer, a rollback that could not be queued): it refuses further work and is dropped
    /// when released (the server rolls back on disconnect).
    broken: AtomicBool,
    /// Limit on each round trip (`PoolConfig::query_timeout`).
    deadline: Duration,
    /// The thread it was opened on, whose reactor its socket is registered with.
    home: Home,
}

/// What an operation interrupted mid-way (its future dropped) leaves behind.
#[derive(Clone, Copy)]
enum OnInterrupt {
    /// Replies may be left unread: drain them (ping) before reuse.
    Settle,
    /// A transaction may be open on the server without sqlx knowing it (a top-level `BEGIN` is
    /// counted only once answered): nothing else may run on the connection.
    Break,
}

impl Slot {
    /// Connects now, with one attempt (so a dead database or a refused session fails here, with
    /// the real error, not at the first query). Messages never contain the URL.
    /// `deadline` bounds each later round trip, and is the session's `statement_timeout`.
    pub(crate) async fn open(
        url: &SecretString,
        timeout: Duration,
        deadline: Duration,
    ) -> Result<Self, String> {
        let raw = url.expose_secret();
        let connected = if raw.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(raw)
                .map_err(|e| e.to_string())?
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
                .disable_statement_logging();
            tokio::time::timeout(timeout, options.connect())
                .await
                .map(|r| r.map(Raw::Sqlite))
        } else {
            let options = PgConnectOptions::from_str(raw)
                .map_err(|_| "invalid tenant database URL".to_owned())?
                .application_name("tenantry")
                // The server stops a statement the client gave up on, instead of running it on
                // for nobody. (sqlx 0.9 has no TCP keepalive option: a vanished server is
                // noticed by the deadline, not by the socket.)
                .options([("statement_timeout", deadline.as_millis())])
                .disable_statement_logging();
            tokio::time::timeout(timeout, options.connect())
                .await
                .map(|r| r.map(Raw::Postgres))
        };
        let raw = connected
            .map_err(|_| format!("connect timed out after {timeout:?}"))?
            .map_err(|e| e.to_string())?;
        let backend = match raw {
            Raw::Postgres(_) => DbBackend::Postgres,
            Raw::Sqlite(_) => DbBackend::Sqlite,
        };
        Ok(Self {
            raw: Mutex::new(raw),
            backend,
            unsettled: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            deadline,
            home: Home::current(),
        })
    }

    pub(crate) fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Closes the connection politely (a broken one is simply dropped). Bounded: its permit is
    /// freed only once this returns.
    pub(crate) async fn close(self) {
        if self.broken.load(Ordering::Acquire) {
            return;
        }
        let deadline = self.deadline;
        let _ = tokio::time::timeout(deadline, async {
            on_raw!(self.raw.into_inner(), c => c.close().await)
        })
        .await;
    }

    /// Gives up on the connection: it will be dropped, not closed politely (a close could wait
    /// behind whatever left it unsettled).
    pub(crate) fn abandon(&self) {
        self.broken.store(true, Ordering::Release);
    }

    /// Whether the slot may go straight back to the idle list: nothing happened to it during the
    /// lease, and no transaction is open on it.
    pub(crate) fn is_settled(&mut self) -> bool {
        !self.unsettled.load(Ordering::Acquire)
            && !self.broken.load(Ordering::Acquire)
            && on_raw!(self.raw.get_mut(), c => transaction_depth(c)) == 0
    }

    /// Brings an unsettled slot back to a known state: drains what an interrupted query left,
    /// sends a queued rollback and checks the connection answers. `false`: drop it instead.
    pub(crate) async fn settle(&self) -> bool {
        if self.broken.load(Ordering::Acquire) {
            return false;
        }
        let mut raw = self.raw.lock().await;
        // Ping first: it runs after a queued rollback (SQLite's worker updates the depth only
        // once it has run it); a transaction still open after that has no owner left.
        let raw = &mut *raw;
        let pinged =
            self.bounded(async { on_raw!(&mut *raw, c => c.ping().await).map_err(query_err) });
        let ok = pinged.await.is_ok() && on_raw!(&*raw, c => transaction_depth(c)) == 0;
        if ok {
            self.unsettled.store(false, Ordering::Release);
        }
        ok
    }

    /// Runs one round trip under the deadline. Past it the database counts as not answering:
    /// what the connection was doing is unknown, so it is given up (dropped on release, its
    /// permit freed), and the caller gets a connection error (HTTP: 503), never a hang.
    async fn bounded<T>(&self, work: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
        match tokio::time::timeout(self.deadline, work).await {
            Ok(done) => done,
            Err(_) => {
                self.abandon();
                Err(DbErr::Conn(RuntimeErr::Internal(format!(
                    "tenant database did not answer within {:?}",
                    self.deadline
                ))))
            }
        }
    }

    /// One operation on the locked connection, under the deadline.
    async fn run<T>(
        &self,
        on_interrupt: OnInterrupt,
        work: impl AsyncFnOnce(&mut Raw) -> Result<T, DbErr>,
    ) -> Result<T, DbErr> {
        let mut busy = self.busy(on_interrupt).await?;
        let done = self.bounded(work(&mut busy.raw)).await;
        busy.finish(done)
    }

    /// Locks the connection for one operation (see [`Busy`]).
    async fn busy(&self, on_interrupt: OnInterrupt) -> Result<Busy<'_>, DbErr> {
        if self.broken.load(Ordering::Acquire) {
            return Err(DbErr::Conn(RuntimeErr::Internal(
                "the tenant connection was left in an unknown state and is no longer usable".into(),
            )));
        }
        let raw = self.raw.lock().await;
        Ok(Busy {
            slot: self,
            raw,
            finished: false,
            on_interrupt,
        })
    }

    pub(crate) async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.run(OnInterrupt::Settle, async |raw| {
            on_raw!(raw, c => query(&stmt).execute(&mut *c).await.map(ExecResult::from))
                .map_err(exec_err)
        })
        .await
    }

    pub(crate) async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let sql = AssertSqlSafe(sql.to_owned());
        self.run(OnInterrupt::Settle, async |raw| {
            on_raw!(raw, c => c.execute(sql).await.map(ExecResult::from)).map_err(exec_err)
        })
        .await
    }

    pub(crate) async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.run(OnInterrupt::Settle, async |raw| {
            on_raw!(raw, c => query(&stmt)
                .fetch_optional(&mut *c)
                .await
                .map(|row| row.map(QueryResult::from)))
            .map_err(query_err)
        })
        .await
    }

    pub(crate) async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.run(OnInterrupt::Settle, async |raw| {
            on_raw!(raw, c => query(&stmt)
                .fetch_all(&mut *c)
                .await
                .map(|rows| rows.into_iter().map(QueryResult::from).collect()))
            .map_err(query_err)
        })
        .await
    }

    /// The connection's transaction depth, exact: SQLite's worker thread applies a queued
    /// rollback on its own time, so after one (the slot is unsettled) it is pinged first.
    async fn depth(&self, raw: &mut Raw) -> Result<usize, DbErr> {
        if let Raw::Sqlite(c) = raw
            && self.unsettled.load(Ordering::Acquire)
        {
            c.ping().await.map_err(query_err)?;
        }
        Ok(on_raw!(&*raw, c => transaction_depth(c)))
    }

    /// `BEGIN` (or a savepoint inside a transaction), as sea-orm's own transactions do it:
    /// isolation level and access mode on PostgreSQL, the locking mode on SQLite. Returns the
    /// transaction's level (1 for the outermost).
    pub(crate) async fn begin(&self, options: TransactionOptions) -> Result<usize, DbErr> {
        self.run(OnInterrupt::Break, async |raw| {
            let depth = self.depth(raw).await?;
            match raw {
                Raw::Postgres(c) => begin_postgres(c, options).await,
                Raw::Sqlite(c) => {
                    let statement = match options.sqlite_transaction_mode {
                        // The mode applies to the outermost BEGIN; nested levels are savepoints.
                        Some(mode) if depth == 0 && mode != SqliteTransactionMode::Deferred => {
                            Some(
                                AssertSqlSafe(format!("BEGIN {}", mode.sqlite_keyword()))
                                    .into_sql_str(),
                            )
                        }
                        _ => None,
                    };
                    <Sqlite as Database>::TransactionManager::begin(c, statement).await
                }
            }
            .map(|()| depth + 1)
            .map_err(query_err)
        })
        .await
    }

    /// Commits the transaction at `level` (releases its savepoint when nested); it must be the
    /// innermost one still open.
    pub(crate) async fn commit(&self, level: usize) -> Result<(), DbErr> {
        self.run(OnInterrupt::Settle, async |raw| {
            self.innermost(raw, level).await?;
            on_raw!(raw, c => commit(c).await).map_err(query_err)
        })
        .await
    }

    /// Rolls back the transaction at `level` (to its savepoint when nested); it must be the
    /// innermost one still open.
    pub(crate) async fn rollback(&self, level: usize) -> Result<(), DbErr> {
        self.run(OnInterrupt::Settle, async |raw| {
            self.innermost(raw, level).await?;
            on_raw!(raw, c => rollback(c).await).map_err(query_err)
        })
        .await
    }

    /// Refuses to end a transaction while one begun after it is still open (sqlx would end
    /// the innermost instead, whatever the caller meant).
    async fn innermost(&self, raw: &mut Raw, level: usize) -> Result<(), DbErr> {
        let depth = self.depth(raw).await?;
        if depth == level {
            return Ok(());
        }
        Err(DbErr::Custom(format!(
            "transaction at level {level} ended while the connection is at level {depth}: \
             end a transaction only after every transaction begun on it"
        )))
    }

    /// For a transaction dropped while open: queues its rollback, sent before the connection's
    /// next use (or by [`Self::settle`] when the slot is released). Never waits.
    pub(crate) fn start_rollback(&self) {
        match self.raw.try_lock() {
            Ok(mut raw) => {
                on_raw!(&mut *raw, c => start_rollback(c));
                self.unsettled.store(true, Ordering::Release);
            }
            // Busy with another operation on the same lease: the rollback cannot be queued in
            // order, so nothing more may run on this connection.
            Err(_) => self.broken.store(true, Ordering::Release),
        }
    }
}

/// An operation in progress on a locked connection. If it is dropped before [`Busy::finish`]
/// (its future was cancelled mid-way), the slot is marked as its [`OnInterrupt`] says.
struct Busy<'a> {
    slot: &'a Slot,
    raw: MutexGuard<'a, Raw>,
    finished: bool,
    on_interrupt: OnInterrupt,
}

impl Busy<'_> {
    /// The operation ran to its end. After an error the slot is checked before it is reused:
    /// most errors leave the connection usable (a refused statement), but some end the session
    /// (a server shutting down answers with a FATAL error, then hangs up).
    fn finish<T>(mut self, done: Result<T, DbErr>) -> Result<T, DbErr> {
        self.finished = true;
        if done.is_err() {
            self.slot.unsettled.store(true, Ordering::Release);
        }
        done
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let flag = match self.on_interrupt {
                OnInterrupt::Settle => &self.slot.unsettled,
                OnInterrupt::Break => &self.slot.broken,
            };
            flag.store(true, Ordering::Release);
        }
    }
}

impl Homed for Slot {
    fn home(&self) -> Home {
        self.home
    }
}
