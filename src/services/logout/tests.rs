//! Recording which apps a session answered, on a node's services (a fresh SQLite file): what
//! is written, and what a repeat within the hour spares.

use super::recorded::REFRESH_AFTER;
use super::{app_signed_in, grant_signed_in};
use crate::services::Services;
use crate::services::testing::{World, services, world};
use crate::store::{Grant, SessionApp};

const SESSION: &str = "session-1";

/// A user grant of `world`'s member to its app, in [`SESSION`].
fn grant(world: &World, at: i64) -> Grant {
    Grant {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: world.tenant.id.clone(),
        client_id: world.app.client_id.clone(),
        user_id: Some(world.user.id.clone()),
        session_id: Some(SESSION.to_owned()),
        scope: "openid".to_owned(),
        auth_time: at,
        amr: vec!["pwd".to_owned()],
        acr: "1".to_owned(),
        idp: None,
        nonce: None,
        user_stamp: Some(world.user.security_stamp.clone()),
        ip: None,
        created_at: at,
        expires_at: at + 600,
        revoked_at: None,
    }
}

/// That [`SESSION`] answered `world`'s app at `at`, with a SAML NameID when given.
fn answered(world: &World, name_id: Option<&str>, at: i64) -> SessionApp {
    SessionApp {
        session_id: SESSION.to_owned(),
        app_id: world.app.id.clone(),
        tenant_id: world.tenant.id.clone(),
        client_id: world.app.client_id.clone(),
        user_id: world.user.id.clone(),
        name_id: name_id.map(str::to_owned),
        name_id_format: None,
        session_index: None,
        at,
    }
}

/// The recorded session app of [`SESSION`] (there is one app).
async fn recorded(services: &Services) -> SessionApp {
    let mut apps = services.store.session_apps(SESSION).await.unwrap();
    assert_eq!(apps.len(), 1, "{apps:?}");
    apps.remove(0)
}

#[tokio::test]
async fn a_code_stores_its_grant_with_the_session_app_and_a_repeat_within_the_hour_only_its_grant()
{
    let node = services().await;
    let services = &node.services;
    let world = world(services).await;
    let start = 1_000_000;

    let first = grant(&world, start);
    grant_signed_in(services, &first, answered(&world, None, start))
        .await
        .unwrap();
    services.store.grant_by_id(&first.id).await.unwrap();
    assert_eq!(recorded(services).await, answered(&world, None, start));

    // The same session and app a minute later: the grant is stored, the row is left as is.
    let second = grant(&world, start + 60);
    grant_signed_in(services, &second, answered(&world, None, start + 60))
        .await
        .unwrap();
    services.store.grant_by_id(&second.id).await.unwrap();
    assert_eq!(recorded(services).await.at, start);

    // An hour on, the row is written again.
    let later = start + REFRESH_AFTER;
    let third = grant(&world, later);
    grant_signed_in(services, &third, answered(&world, None, later))
        .await
        .unwrap();
    services.store.grant_by_id(&third.id).await.unwrap();
    assert_eq!(recorded(services).await.at, later);
}

#[tokio::test]
async fn a_saml_answer_with_another_name_id_is_recorded_and_the_same_one_again_is_not_rewritten() {
    let node = services().await;
    let services = &node.services;
    let world = world(services).await;

    app_signed_in(services, answered(&world, Some("ada"), 100))
        .await
        .unwrap();
    app_signed_in(services, answered(&world, Some("ada-transient"), 150))
        .await
        .unwrap();
    assert_eq!(
        recorded(services).await,
        answered(&world, Some("ada-transient"), 150)
    );
    app_signed_in(services, answered(&world, Some("ada-transient"), 160))
        .await
        .unwrap();
    assert_eq!(recorded(services).await.at, 150);
}
