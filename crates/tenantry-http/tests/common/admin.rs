//! Operators and their tokens, for the admin API's tests.

use secrecy::{ExposeSecret as _, SecretString};
use tenantry_ops::{Caller, NewAdmin};
use tenantry_registry::AdminRole;

use super::{TestApp, unique};

pub const APEX: &str = "localhost";

fn role(name: &str) -> AdminRole {
    serde_json::from_value(serde_json::json!(name)).expect("owner, operator or viewer")
}

impl TestApp {
    /// A new operator with `role`; returns its email and password.
    pub async fn admin(&self, role_name: &str) -> (String, String) {
        let email = format!("{}@ops.example", unique(role_name));
        let password = "operator-password-1".to_owned();
        self.state
            .ops
            .create_admin(
                &Caller::cli(),
                NewAdmin {
                    email: email.clone(),
                    password: Some(SecretString::from(password.clone())),
                    role: role(role_name),
                },
            )
            .await
            .unwrap();
        (email, password)
    }

    /// A session token of a new operator with `role`, from `POST /admin/v1/login`.
    pub async fn admin_token(&self, role_name: &str) -> String {
        let (email, password) = self.admin(role_name).await;
        let res = self
            .post(APEX, "/admin/v1/login")
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = res.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// An API token issued straight through the operator service.
    pub async fn insert_token(
        &self,
        name: &str,
        role_name: &str,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> String {
        let issued = self
            .state
            .ops
            .create_token(&Caller::cli(), name, role(role_name), expires_at)
            .await
            .unwrap();
        issued.secret.expose_secret().to_owned()
    }

    pub fn admin_delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .delete(self.url(path))
            .header("host", format!("{APEX}:{}", self.addr.port()))
    }

    pub fn admin_patch(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .patch(self.url(path))
            .header("host", format!("{APEX}:{}", self.addr.port()))
    }
}
