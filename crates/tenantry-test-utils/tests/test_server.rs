//! The server `scripts/test` starts must behave as later tests assume.

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use tenantry_test_utils::{TestDb, pg_admin, pg_admin_url};
use url::Url;

#[tokio::test]
async fn non_superusers_need_their_password_over_tcp() {
    let db = TestDb::postgres().await;
    let admin = pg_admin().await;
    let role = format!("tenantry_test_role_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!(
            r#"CREATE ROLE "{role}" LOGIN PASSWORD 'right-password'"#
        ))
        .await
        .unwrap();

    let url_with = |password: &str| {
        let mut url = Url::parse(db.url()).unwrap();
        url.set_username(&role).unwrap();
        url.set_password(Some(password)).unwrap();
        url.to_string()
    };
    let right = Database::connect(url_with("right-password")).await;
    let wrong = Database::connect(url_with("wrong-password")).await;
    if let Ok(conn) = &right {
        conn.close_by_ref().await.unwrap();
    }
    drop(db);
    admin
        .execute_unprepared(&format!(r#"DROP ROLE "{role}""#))
        .await
        .unwrap();

    right.expect("the right password is accepted");
    let error = wrong.expect_err("a wrong password is refused").to_string();
    assert!(error.contains("password authentication failed"), "{error}");
}

#[tokio::test]
async fn admin_url_names_the_superuser_on_loopback() {
    let url = Url::parse(&pg_admin_url()).unwrap();
    assert_eq!(url.host_str(), Some("127.0.0.1"));
    let row = pg_admin()
        .await
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(row.try_get_by_index::<bool>(0).unwrap());
}
