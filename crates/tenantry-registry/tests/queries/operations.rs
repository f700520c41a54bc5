//! Operation listings: kind, actor and progress, filtered by tenant, state and kind, paged.

use serde_json::json;
use tenantry_core::TenantId;
use tenantry_registry::{Actor, OperationKind, OperationQuery, OperationState, RegistryError};
use tenantry_test_utils::{Dialect, TestDb};

use super::support::{cli, registry};

#[tokio::test]
async fn operations_are_listed_with_their_kind_actor_and_progress() {
    for dialect in Dialect::ALL {
        let db = TestDb::new(dialect).await;
        let registry = registry(&db).await;
        let t1 = TenantId::new();
        let t2 = TenantId::new();
        let create = registry
            .start_operation(
                OperationKind::TenantCreate,
                Some(t1),
                "reserve",
                json!({}),
                Some(&cli()),
            )
            .await
            .unwrap();
        registry
            .finish_operation(create.id, OperationState::Succeeded, None)
            .await
            .unwrap();
        let migrate = registry
            .start_operation(
                OperationKind::TenantMigrate,
                Some(t1),
                "migrate",
                json!({}),
                None,
            )
            .await
            .unwrap();
        let fleet = registry
            .start_operation(
                OperationKind::FleetMigrate,
                None,
                "start",
                json!({}),
                Some(&Actor::System),
            )
            .await
            .unwrap();
        registry
            .set_operation_progress(fleet.id, 3, 10)
            .await
            .unwrap();
        let busy = registry
            .start_operation(
                OperationKind::TenantSuspend,
                Some(t1),
                "suspend",
                json!({}),
                None,
            )
            .await;
        assert!(
            matches!(busy, Err(RegistryError::Busy { .. })),
            "{dialect:?}"
        );
        registry
            .start_operation(
                OperationKind::TenantDelete,
                Some(t2),
                "delete",
                json!({}),
                None,
            )
            .await
            .unwrap();

        let list = |q: OperationQuery| {
            let registry = registry.clone();
            async move {
                let (ops, total) = registry
                    .list_operations(&OperationQuery {
                        page: 1,
                        limit: 50,
                        ..q
                    })
                    .await
                    .unwrap();
                (ops.iter().map(|o| o.kind).collect::<Vec<_>>(), total, ops)
            }
        };
        let (kinds, total, ops) = list(OperationQuery::default()).await;
        use OperationKind::*;
        assert_eq!(
            kinds,
            [TenantDelete, FleetMigrate, TenantMigrate, TenantCreate],
            "{dialect:?}: newest first"
        );
        assert_eq!(total, 4);
        let fleet_row = &ops[1];
        assert_eq!(
            (fleet_row.progress_done, fleet_row.progress_total),
            (Some(3), Some(10))
        );
        assert_eq!(fleet_row.actor.as_deref(), Some("system"));
        assert_eq!(ops[3].actor.as_deref(), Some("cli:root"), "{dialect:?}");
        assert_eq!(ops[2].actor, None);

        let of_t1 = OperationQuery {
            tenant: Some(t1),
            ..OperationQuery::default()
        };
        assert_eq!(
            list(of_t1).await.0,
            [TenantMigrate, TenantCreate],
            "{dialect:?}"
        );
        let running = OperationQuery {
            state: Some(OperationState::Running),
            ..OperationQuery::default()
        };
        assert_eq!(list(running).await.1, 3, "{dialect:?}");
        let migrations = OperationQuery {
            kind: Some(TenantMigrate),
            ..OperationQuery::default()
        };
        let (_, total, ops) = list(migrations).await;
        assert_eq!((total, ops[0].id), (1, migrate.id), "{dialect:?}");
        let paged = OperationQuery {
            page: 2,
            limit: 3,
            ..OperationQuery::default()
        };
        let (ops, total) = registry.list_operations(&paged).await.unwrap();
        assert_eq!((ops.len(), total), (1, 4), "{dialect:?}");

        let unknown = registry
            .set_operation_progress(uuid::Uuid::now_v7(), 1, 2)
            .await;
        assert!(matches!(unknown, Err(RegistryError::NotFound { .. })));
    }
}
