//! Unit tests of the grant rules on a node's services (a fresh SQLite file, the in-memory
//! ephemeral store): no HTTP, milliseconds each.

use std::time::Duration;

use super::{
    CodeExchange, GrantError, Introspection, Issued, RefreshRequest, Refusal, exchange_code,
    introspect, live_access_token, refresh, revoke,
};
use crate::domain::app::{App, ClientType};
use crate::domain::unix_now;
use crate::ephemeral::Json;
use crate::secrets;
use crate::services::Services;
use crate::services::codes::{
    CODE_REPLAY_MEMORY, CodeRecord, RedeemedCode, code_key, redeemed_key,
};
use crate::services::testing::{World, services, world};
use crate::store::{Grant, RefreshToken};

const REDIRECT_URI: &str = "https://app.example/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const REFRESH_INVALID: &str = "the refresh token is invalid, expired or revoked";

/// A grant of `world`'s user to its app (`openid offline_access`), stored.
async fn grant(services: &Services, world: &World) -> Grant {
    let now = unix_now();
    let grant = Grant {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: world.tenant.id.clone(),
        client_id: world.app.client_id.clone(),
        user_id: Some(world.user.id.clone()),
        session_id: Some("session".to_owned()),
        scope: "openid offline_access".to_owned(),
        auth_time: now,
        amr: vec!["pwd".to_owned()],
        acr: "1".to_owned(),
        idp: None,
        nonce: Some("nonce".to_owned()),
        user_stamp: Some(world.user.security_stamp.clone()),
        ip: None,
        created_at: now,
        expires_at: now + 3600,
        revoked_at: None,
    };
    services.store.create_grant(&grant).await.expect("a grant");
    grant
}

/// An authorization code for a new grant, as the authorization endpoint leaves it.
async fn code(services: &Services, world: &World) -> (String, Grant) {
    let grant = grant(services, world).await;
    let code = secrets::new_secret();
    let challenge = secrets::sha256_b64url(VERIFIER.as_bytes());
    let json = Json(services.ephemeral.as_ref());
    let redeemed = RedeemedCode {
        grant_id: grant.id.clone(),
        client_id: world.app.client_id.clone(),
        code_challenge: challenge.clone(),
    };
    json.put(&redeemed_key(&code), &redeemed, CODE_REPLAY_MEMORY)
        .await
        .expect("remembered");
    let record = CodeRecord {
        grant_id: grant.id.clone(),
        client_id: world.app.client_id.clone(),
        redirect_uri: REDIRECT_URI.to_owned(),
        code_challenge: challenge,
        issued_at: unix_now(),
    };
    json.put(&code_key(&code), &record, Duration::from_secs(60))
        .await
        .expect("stored");
    (code, grant)
}

fn exchange(code: &str) -> CodeExchange<'_> {
    CodeExchange {
        code: Some(code),
        redirect_uri: Some(REDIRECT_URI),
        code_verifier: Some(VERIFIER),
    }
}

async fn redeem(services: &Services, world: &World, code: &str) -> Result<Issued, GrantError> {
    exchange_code(services, &world.tenant, &world.app, exchange(code), None).await
}

async fn refreshed(services: &Services, world: &World, token: &str) -> Result<Issued, GrantError> {
    let request = RefreshRequest {
        refresh_token: Some(token),
        scope: None,
    };
    refresh(services, &world.tenant, &world.app, request, None).await
}

fn refused_as(result: Result<Issued, GrantError>, expected: Refusal) {
    match result {
        Err(GrantError::Refused(refusal)) => assert_eq!(refusal, expected),
        Err(GrantError::Failed(e)) => panic!("failed instead of refusing: {e}"),
        Ok(_) => panic!("issued tokens instead of refusing {expected:?}"),
    }
}

/// Redeems a fresh code: the tokens, with their refresh token.
async fn signed_in(services: &Services, world: &World) -> (Issued, String) {
    let (code, _) = code(services, world).await;
    let issued = redeem(services, world, &code).await.expect("tokens");
    let refresh_token = issued.refresh_token.clone().expect("a refresh token");
    (issued, refresh_token)
}

#[tokio::test]
async fn a_code_gives_an_access_token_an_id_token_and_a_refresh_token() {
    let test = services().await;
    let world = world(&test.services).await;
    let (issued, _) = signed_in(&test.services, &world).await;
    assert!(issued.id_token.is_some());
    assert_eq!(issued.scope.as_deref(), Some("openid offline_access"));
    let live = live_access_token(&test.services, &world.tenant, &issued.access_token).await;
    assert!(live.expect("no failure").is_some());
}

#[tokio::test]
async fn a_refresh_returns_a_new_token_and_the_old_one_then_fails() {
    let test = services().await;
    let world = world(&test.services).await;
    let (_, first) = signed_in(&test.services, &world).await;
    let next = refreshed(&test.services, &world, &first)
        .await
        .expect("rotated");
    let second = next.refresh_token.expect("a successor");
    assert_ne!(second, first);
    refused_as(
        refreshed(&test.services, &world, &first).await,
        Refusal::InvalidGrant(REFRESH_INVALID.to_owned()),
    );
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let test = services().await;
    let world = world(&test.services).await;
    let (issued, first) = signed_in(&test.services, &world).await;
    let next = refreshed(&test.services, &world, &first)
        .await
        .expect("rotated");
    let newest = next.refresh_token.expect("a successor");
    assert!(refreshed(&test.services, &world, &first).await.is_err());
    refused_as(
        refreshed(&test.services, &world, &newest).await,
        Refusal::InvalidGrant("the grant is no longer valid".to_owned()),
    );
    for access_token in [&issued.access_token, &next.access_token] {
        let live = live_access_token(&test.services, &world.tenant, access_token).await;
        assert!(
            live.expect("no failure").is_none(),
            "the family's access tokens die too"
        );
    }
}

#[tokio::test]
async fn a_code_is_single_use_and_its_replay_revokes_what_it_issued() {
    let test = services().await;
    let world = world(&test.services).await;
    let (code, grant) = code(&test.services, &world).await;
    let issued = redeem(&test.services, &world, &code).await.expect("tokens");
    refused_as(
        redeem(&test.services, &world, &code).await,
        Refusal::InvalidGrant("the code is invalid, expired or already used".to_owned()),
    );
    let stored = test
        .services
        .store
        .grant_by_id(&grant.id)
        .await
        .expect("the grant");
    assert!(
        stored.revoked_at.is_some(),
        "the replay revokes the code's grant"
    );
    let live = live_access_token(&test.services, &world.tenant, &issued.access_token).await;
    assert!(live.expect("no failure").is_none());
    let refresh_token = issued.refresh_token.expect("a refresh token");
    assert!(
        refreshed(&test.services, &world, &refresh_token)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_replay_without_the_verifier_revokes_nothing() {
    let test = services().await;
    let world = world(&test.services).await;
    let (code, grant) = code(&test.services, &world).await;
    redeem(&test.services, &world, &code).await.expect("tokens");
    let guess = CodeExchange {
        code_verifier: None,
        ..exchange(&code)
    };
    let replay = exchange_code(&test.services, &world.tenant, &world.app, guess, None).await;
    refused_as(
        replay,
        Refusal::InvalidGrant("the code is invalid, expired or already used".to_owned()),
    );
    let stored = test
        .services
        .store
        .grant_by_id(&grant.id)
        .await
        .expect("the grant");
    assert!(stored.revoked_at.is_none());
}

#[tokio::test]
async fn a_code_checks_its_redirect_uri_and_verifier_without_burning_it() {
    let test = services().await;
    let world = world(&test.services).await;
    let (code, _) = code(&test.services, &world).await;
    let elsewhere = CodeExchange {
        redirect_uri: Some("https://evil.example/callback"),
        ..exchange(&code)
    };
    refused_as(
        exchange_code(&test.services, &world.tenant, &world.app, elsewhere, None).await,
        Refusal::InvalidGrant("redirect_uri differs from the authorization request".to_owned()),
    );
    let wrong = CodeExchange {
        code_verifier: Some("wrong-verifier-wrong-verifier-wrong-verifier-0"),
        ..exchange(&code)
    };
    refused_as(
        exchange_code(&test.services, &world.tenant, &world.app, wrong, None).await,
        Refusal::InvalidGrant("code_verifier does not match the code challenge".to_owned()),
    );
    assert!(redeem(&test.services, &world, &code).await.is_ok());
}

#[tokio::test]
async fn revoking_a_refresh_token_kills_its_family() {
    let test = services().await;
    let world = world(&test.services).await;
    let (issued, first) = signed_in(&test.services, &world).await;
    revoke(&test.services, &world.tenant, &world.app, Some(&first))
        .await
        .expect("revoked");
    refused_as(
        refreshed(&test.services, &world, &first).await,
        Refusal::InvalidGrant("the grant is no longer valid".to_owned()),
    );
    let live = live_access_token(&test.services, &world.tenant, &issued.access_token).await;
    assert!(live.expect("no failure").is_none());
}

#[tokio::test]
async fn another_clients_token_is_not_revoked() {
    let test = services().await;
    let world = world(&test.services).await;
    let (_, first) = signed_in(&test.services, &world).await;
    let other = App {
        client_id: "another-client".to_owned(),
        ..world.app.clone()
    };
    let refused = revoke(&test.services, &world.tenant, &other, Some(&first)).await;
    assert!(matches!(
        refused,
        Err(GrantError::Refused(Refusal::UnauthorizedClient(_)))
    ));
    assert!(refreshed(&test.services, &world, &first).await.is_ok());
}

#[tokio::test]
async fn introspection_of_a_revoked_or_expired_token_is_inactive() {
    let test = services().await;
    let world = world(&test.services).await;
    let (issued, first) = signed_in(&test.services, &world).await;
    let ask = |token: String| {
        let services = test.services.clone();
        let world = world.clone();
        async move {
            introspect(&services, &world.tenant, &world.app, Some(&token))
                .await
                .expect("an answer")
        }
    };
    assert!(matches!(
        ask(first.clone()).await,
        Introspection::RefreshToken { .. }
    ));
    assert!(matches!(
        ask(issued.access_token.clone()).await,
        Introspection::AccessToken(_)
    ));
    revoke(&test.services, &world.tenant, &world.app, Some(&first))
        .await
        .expect("revoked");
    assert_eq!(ask(first).await, Introspection::Inactive);
    assert_eq!(ask(issued.access_token).await, Introspection::Inactive);

    let live = grant(&test.services, &world).await;
    let expired = secrets::new_secret();
    let long_ago = unix_now() - 7200;
    let record = RefreshToken {
        token_hash: secrets::hash_secret(&expired),
        grant_id: live.id,
        created_at: long_ago,
        expires_at: long_ago + 60,
        used_at: None,
    };
    test.services
        .store
        .issue_refresh_token(&record)
        .await
        .expect("stored");
    assert_eq!(ask(expired.clone()).await, Introspection::Inactive);
    refused_as(
        refreshed(&test.services, &world, &expired).await,
        Refusal::InvalidGrant(REFRESH_INVALID.to_owned()),
    );
}

#[tokio::test]
async fn introspection_needs_a_confidential_client() {
    let test = services().await;
    let world = world(&test.services).await;
    let public = App {
        client_type: ClientType::Public,
        ..world.app.clone()
    };
    let refused = introspect(&test.services, &world.tenant, &public, Some("x")).await;
    assert!(matches!(
        refused,
        Err(GrantError::Refused(Refusal::InvalidClient(_)))
    ));
}

#[tokio::test]
async fn an_assignment_removed_stops_the_next_refresh() {
    let test = services().await;
    let mut world = world(&test.services).await;
    world.app = App {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: uuid::Uuid::new_v4().to_string(),
        assignment_required: true,
        ..world.app.clone()
    };
    let store = &test.services.store;
    store.create_app(&world.app).await.expect("an app");
    let now = unix_now();
    store
        .add_assignment(&crate::store::NewAssignment {
            id: &uuid::Uuid::new_v4().to_string(),
            tenant_id: &world.app.tenant_id,
            app_id: &world.app.id,
            principal_id: &world.user.id,
            principal_type: "User",
            app_role_id: crate::domain::assignment::DEFAULT_ACCESS,
            created_at: now,
        })
        .await
        .expect("assigned");
    let (_, first) = signed_in(&test.services, &world).await;
    let next = refreshed(&test.services, &world, &first)
        .await
        .expect("rotated");
    store
        .unassign_app(&world.app.id, &world.user.id)
        .await
        .expect("unassigned");
    refused_as(
        refreshed(
            &test.services,
            &world,
            &next.refresh_token.expect("a successor"),
        )
        .await,
        Refusal::InvalidGrant(
            "the user is no longer assigned to this application (assignment is required)"
                .to_owned(),
        ),
    );
}
