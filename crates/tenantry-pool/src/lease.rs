//! A leased slot as sea-orm sees it: [`TenantConnection`] runs queries and transactions on the
//! slot's own connection. The slot goes back to the pools when the lease and every transaction
//! begun on it are gone, so a transaction can never outlive its connection's lease.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{
    AccessMode, ConnectionTrait, DbBackend, DbErr, ExecResult, IsolationLevel, QueryResult,
    Statement, TransactionError, TransactionOptions, TransactionSession, TransactionTrait,
};
use tenantry_core::TenantId;

use crate::conn::Slot;
use crate::pools::Inner;

/// A slot out of the pools, and where it goes back.
pub(crate) struct Lease {
    pub(crate) inner: Arc<Inner>,
    pub(crate) tenant: TenantId,
    pub(crate) generation: u64,
    pub(crate) slot: Option<Slot>,
}

impl Lease {
    fn slot(&self) -> &Slot {
        self.slot.as_ref().expect("present until drop")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.inner.give_back(self.tenant, self.generation, slot);
        }
    }
}

/// A leased connection to one tenant's database, as its own role. It implements sea-orm's
/// [`ConnectionTrait`] and [`TransactionTrait`]; the only way to obtain one is
/// [`TenantPools::acquire`](crate::TenantPools::acquire) with a tenant id. Dropping it (and
/// any transaction begun on it) returns the connection, or closes it if the tenant was evicted
/// or invalidated meanwhile.
pub struct TenantConnection {
    lease: Arc<Lease>,
}

impl TenantConnection {
    pub(crate) fn new(lease: Lease) -> Self {
        Self {
            lease: Arc::new(lease),
        }
    }

    pub fn tenant(&self) -> TenantId {
        self.lease.tenant
    }
}

/// A transaction on a [`TenantConnection`] (a savepoint when nested). Dropped without
/// [`commit`](Self::commit), it is rolled back before the connection is used again.
/// Transactions end innermost first: ending one while a transaction begun after it is still
/// open is refused. Statements run on the `TenantConnection` itself while a transaction is
/// open run inside that transaction (one connection).
pub struct TenantTransaction {
    lease: Arc<Lease>,
    /// 1 for the outermost transaction, one more per savepoint.
    level: usize,
    open: bool,
}

impl TenantTransaction {
    async fn begin(lease: &Arc<Lease>, options: TransactionOptions) -> Result<Self, DbErr> {
        let level = lease.slot().begin(options).await?;
        Ok(Self {
            lease: lease.clone(),
            level,
            open: true,
        })
    }

    pub async fn commit(mut self) -> Result<(), DbErr> {
        self.lease.slot().commit(self.level).await?;
        self.open = false;
        Ok(())
    }

    pub async fn rollback(mut self) -> Result<(), DbErr> {
        self.lease.slot().rollback(self.level).await?;
        self.open = false;
        Ok(())
    }

    /// Runs `callback` in this transaction: committed if it returns `Ok`, else rolled back.
    async fn run<F, T, E>(self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(&'c Self) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let result = callback(&self).await.map_err(TransactionError::Transaction);
        let ended = if result.is_ok() {
            self.commit().await
        } else {
            self.rollback().await
        };
        ended.map_err(TransactionError::Connection)?;
        result
    }
}

impl Drop for TenantTransaction {
    fn drop(&mut self) {
        if self.open {
            self.lease.slot().start_rollback();
        }
    }
}

#[async_trait]
impl TransactionSession for TenantTransaction {
    async fn commit(self) -> Result<(), DbErr> {
        TenantTransaction::commit(self).await
    }

    async fn rollback(self) -> Result<(), DbErr> {
        TenantTransaction::rollback(self).await
    }
}

/// sea-orm's connection and transaction traits for a type that holds `lease: Arc<Lease>`: the
/// connection and its transactions run the same statements on the same slot.
macro_rules! runs_on_its_slot {
    ($ty:ty) => {
        #[async_trait]
        impl ConnectionTrait for $ty {
            fn get_database_backend(&self) -> DbBackend {
                self.lease.slot().backend()
            }

            async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
                self.lease.slot().execute(stmt).await
            }

            async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
                self.lease.slot().execute_unprepared(sql).await
            }

            async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
                self.lease.slot().query_one(stmt).await
            }

            async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
                self.lease.slot().query_all(stmt).await
            }
        }

        #[async_trait]
        impl TransactionTrait for $ty {
            type Transaction = TenantTransaction;

            async fn begin(&self) -> Result<TenantTransaction, DbErr> {
                TenantTransaction::begin(&self.lease, TransactionOptions::default()).await
            }

            async fn begin_with_config(
                &self,
                isolation_level: Option<IsolationLevel>,
                access_mode: Option<AccessMode>,
            ) -> Result<TenantTransaction, DbErr> {
                let options = TransactionOptions {
                    isolation_level,
                    access_mode,
                    ..Default::default()
                };
                TenantTransaction::begin(&self.lease, options).await
            }

            async fn begin_with_options(
                &self,
                options: TransactionOptions,
            ) -> Result<TenantTransaction, DbErr> {
                TenantTransaction::begin(&self.lease, options).await
            }

            async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
            where
                F: for<'c> FnOnce(
                        &'c TenantTransaction,
                    )
                        -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
                    + Send,
                T: Send,
                E: std::fmt::Display + std::fmt::Debug + Send,
            {
                self.transaction_with_config(callback, None, None).await
            }

            async fn transaction_with_config<F, T, E>(
                &self,
                callback: F,
                isolation_level: Option<IsolationLevel>,
                access_mode: Option<AccessMode>,
            ) -> Result<T, TransactionError<E>>
            where
                F: for<'c> FnOnce(
                        &'c TenantTransaction,
                    )
                        -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
                    + Send,
                T: Send,
                E: std::fmt::Display + std::fmt::Debug + Send,
            {
                let transaction = self
                    .begin_with_config(isolation_level, access_mode)
                    .await
                    .map_err(TransactionError::Connection)?;
                transaction.run(callback).await
            }
        }
    };
}

runs_on_its_slot!(TenantConnection);
runs_on_its_slot!(TenantTransaction);
