//! Services for unit tests: a node's [`Services`] on a fresh SQLite file in a temporary
//! directory, the in-memory ephemeral store, a master key and keys made on the spot, and mail
//! written as files. Building one takes milliseconds, so the rules of the services tier are
//! tested without HTTP.

use std::sync::Arc;

use super::Services;
use crate::config::Config;
use crate::domain::app::{App, ClientType, GrantType, SigningAlg};
use crate::domain::tenant::{Tenant, TenantSettings};
use crate::domain::unix_now;
use crate::domain::user::{Identity, User, UserType};

/// A node's services and the directory that holds its files (dropped last).
pub struct TestServices {
    /// The services.
    pub services: Arc<Services>,
    /// Keeps the database and keys until the test ends.
    pub dir: tempfile::TempDir,
}

/// Fresh services with the default configuration changed by `configure`.
pub async fn services_with(configure: impl FnOnce(&mut Config)) -> TestServices {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = Config {
        data_dir: dir.path().join("data"),
        keys_dir: dir.path().join("keys"),
        ..Config::default()
    };
    std::fs::create_dir_all(&config.data_dir).expect("a data directory");
    config.database_url = Some(format!(
        "sqlite://{}",
        config.data_dir.join("gatehouse.db").display()
    ));
    configure(&mut config);
    let services = Services::connect(config).await.expect("services connect");
    // Tests see the ring a fresh node has a moment after it starts: next keys published.
    services.keys.next_keys_published().await;
    TestServices {
        services: Arc::new(services),
        dir,
    }
}

/// Fresh services with the default configuration.
pub async fn services() -> TestServices {
    services_with(|_| {}).await
}

/// A tenant, one of its applications and one of its members, stored.
#[derive(Debug, Clone)]
pub struct World {
    /// The tenant (`contoso`, `contoso.example`).
    pub tenant: Tenant,
    /// A confidential web application of the tenant (authorization code and refresh token).
    pub app: App,
    /// A member of the tenant (no password).
    pub user: User,
}

/// Stores a tenant `contoso`, a confidential web app and a member, `ada@contoso.example`.
pub async fn world(services: &Services) -> World {
    let now = unix_now();
    let tenant = Tenant {
        id: uuid::Uuid::new_v4().to_string(),
        slug: "contoso".to_owned(),
        name: "Contoso".to_owned(),
        domains: vec!["contoso.example".to_owned()],
        settings: TenantSettings::default(),
        branding: Default::default(),
        created_at: now,
    };
    services
        .store
        .create_tenant(&tenant)
        .await
        .expect("a tenant");
    let app = App {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        client_id: uuid::Uuid::new_v4().to_string(),
        name: "Web app".to_owned(),
        client_type: ClientType::Confidential,
        redirect_uris: vec!["https://app.example/callback".to_owned()],
        post_logout_redirect_uris: Vec::new(),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        signing_alg: SigningAlg::RS256,
        enabled: true,
        secrets: Vec::new(),
        saml: None,
        permissions: Vec::new(),
        owners: Vec::new(),
        home_url: None,
        assignment_required: false,
        profile: Default::default(),
        created_at: now,
    };
    services.store.create_app(&app).await.expect("an app");
    let user = member(&tenant, "ada@contoso.example", now);
    let identity = Identity {
        sign_in_type: "userPrincipalName".to_owned(),
        issuer: "contoso.example".to_owned(),
        issuer_assigned_id: user.email.clone(),
    };
    services
        .store
        .create_user(&user, &[identity])
        .await
        .expect("a user");
    World { tenant, app, user }
}

fn member(tenant: &Tenant, email: &str, now: i64) -> User {
    User {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id.clone(),
        user_type: UserType::Member,
        email: email.to_owned(),
        email_verified: true,
        display_name: "Ada".to_owned(),
        given_name: None,
        family_name: None,
        upn: email.to_owned(),
        password_hash: None,
        roles: Vec::new(),
        account_enabled: true,
        security_stamp: crate::secrets::random_token(16),
        external_user_state: None,
        external_user_state_changed_at: None,
        creation_type: None,
        sponsors: Vec::new(),
        created_at: now,
        updated_at: now,
        preferred_language: None,
        job_title: None,
        usage_location: None,
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn services_start_on_a_fresh_database_and_are_ready() {
        let test = super::services().await;
        let readiness = super::super::node::readiness(&test.services).await;
        assert!(readiness.is_ready(), "{:?}", readiness.problems);
    }
}
