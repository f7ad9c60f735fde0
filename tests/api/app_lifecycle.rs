//! Applications over their lifetime: client secrets as passwordCredentials (rotation without
//! downtime, expiry, shown once, never logged or audited) and deletion, which ends the app's
//! grants and tokens; a change made on one node is seen by another at once.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::applications::{app, audit_activities, service_app};
use crate::b2b::{SLUG, World};
use crate::helpers::{Client, TestApp};
use gatehouse::services::admin::AppInput;

#[tokio::test]
async fn client_secrets_rotate_without_downtime_and_are_never_shown_again() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let (id, first) = service_app(&world, "Rotating").await;
    let (_, got) = world
        .call(
            Method::GET,
            &format!("applications/{id}"),
            Some(&token),
            None,
        )
        .await;
    let first_key = got["passwordCredentials"][0]["keyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, added) = world
        .call(
            Method::POST,
            &format!("applications/{id}/addPassword"),
            Some(&token),
            Some(json!({"passwordCredential": {"displayName": "second"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    let text = added["secretText"].as_str().unwrap().to_owned();
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&text)
        .unwrap();
    assert!(raw.len() >= 32, "at least 256 bits");
    assert_eq!(added["displayName"], "second");
    assert_eq!(added["hint"], &text[..3]);
    let end = chrono::DateTime::parse_from_rfc3339(added["endDateTime"].as_str().unwrap()).unwrap();
    let two_years = chrono::Utc::now() + chrono::Duration::days(729);
    assert!(
        end.timestamp() > two_years.timestamp(),
        "two years by default"
    );
    let second = Client {
        secret: Some(text.clone()),
        ..first.clone()
    };
    let works = |client: Client| {
        let world = &world;
        async move {
            world
                .app
                .token(SLUG, &client, &[("grant_type", "client_credentials")])
                .await
                .status()
        }
    };
    assert_eq!(works(first.clone()).await, StatusCode::OK);
    assert_eq!(works(second.clone()).await, StatusCode::OK);
    let (status, _) = world
        .call(
            Method::POST,
            &format!("applications/{id}/removePassword"),
            Some(&token),
            Some(json!({"keyId": first_key})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let refused = world
        .app
        .token(SLUG, &first, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_client");
    assert_eq!(works(second.clone()).await, StatusCode::OK);
    // The secret text appears nowhere afterwards: not in the app, not in the audit log.
    let (_, got) = world
        .call(
            Method::GET,
            &format!("applications/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert!(!got.to_string().contains(&text));
    assert_eq!(got["passwordCredentials"].as_array().unwrap().len(), 1);
    let events = audit_activities(&world, &token).await;
    let secrets_events: Vec<_> = events
        .iter()
        .filter(|e| {
            e["activityDisplayName"] == "Update application – Certificates and secrets management"
        })
        .collect();
    assert_eq!(secrets_events.len(), 2, "{events:?}");
    assert!(!Value::Array(events.clone()).to_string().contains(&text));
    let logs = String::from_utf8_lossy(&crate::helpers::LOGS.lock().unwrap()).into_owned();
    assert!(!logs.contains(&text), "the secret is never logged");
    // Errors: a removed key again, an end in the past or too far, a public client.
    let (status, _) = world
        .call(
            Method::POST,
            &format!("applications/{id}/removePassword"),
            Some(&token),
            Some(json!({"keyId": first_key})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = world
        .call(
            Method::POST,
            &format!("applications/{id}/removePassword"),
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for (credential, why) in [
        (json!({"endDateTime": "2001-01-01T00:00:00Z"}), "future"),
        (json!({"endDateTime": "2999-01-01T00:00:00Z"}), "two years"),
        (json!({"endDateTime": "tomorrow"}), "RFC 3339"),
        (json!({"secretText": "my-own-secret"}), "cannot be set"),
        (json!({"displayName": 5}), "string"),
    ] {
        let (status, body) = world
            .call(
                Method::POST,
                &format!("applications/{id}/addPassword"),
                Some(&token),
                Some(json!({"passwordCredential": credential})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{body}"
        );
    }
    let (public_id, _) = app(
        &world,
        AppInput {
            tenant: SLUG.into(),
            name: "Native".into(),
            public: true,
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            ..Default::default()
        },
    )
    .await;
    let (status, _) = world
        .call(
            Method::POST,
            &format!("applications/{public_id}/addPassword"),
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_expired_secret_is_refused_at_the_token_endpoint() {
    let world = World::new().await;
    let (id, client) = service_app(&world, "Expiring").await;
    let secret = gatehouse::domain::app::AppSecret {
        id: "expired-key".into(),
        secret_hash: gatehouse::secrets::hash_secret("an expired but otherwise right secret"),
        hint: "an ".into(),
        display_name: Some("old".into()),
        created_at: 1,
        expires_at: Some(gatehouse::domain::unix_now() - 1),
    };
    let audit = gatehouse::store::AuditEvent::new(
        &world.tenant.id,
        "ApplicationManagement",
        "test",
        gatehouse::store::Party {
            id: "t".into(),
            kind: "system".into(),
            display: "t".into(),
        },
        vec![],
    );
    world
        .app
        .state
        .store
        .add_app_secret(&id, &secret, &audit)
        .await
        .unwrap();
    world.app.state.directory.invalidate();
    let expired = Client {
        secret: Some("an expired but otherwise right secret".into()),
        ..client.clone()
    };
    let response = world
        .app
        .token(SLUG, &expired, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    let response = world
        .app
        .token(SLUG, &client, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn deleting_an_app_ends_its_grants_and_tokens() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let (web_id, web) = app(
        &world,
        AppInput {
            tenant: SLUG.into(),
            name: "Doomed web".into(),
            redirect_uris: vec!["https://doomed.example/cb".into()],
            ..Default::default()
        },
    )
    .await;
    let tokens = world
        .app
        .sign_in_and_redeem(
            SLUG,
            &web,
            crate::b2b::ADMIN,
            crate::b2b::ADMIN_PASSWORD,
            "openid offline_access",
        )
        .await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    let (service_id, service) = service_app(&world, "Doomed service").await;
    let service_token = world.app_token(&service).await;
    let introspect = |token: String| {
        let world = &world;
        async move {
            let response = world
                .app
                .api()
                .post(format!("{}/oauth2/introspect", world.issuer()))
                .basic_auth(&world.backend.client_id, world.backend.secret.as_deref())
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            let body: Value = response.json().await.unwrap();
            body["active"].as_bool().unwrap()
        }
    };
    assert!(introspect(access.clone()).await);
    assert!(introspect(service_token.clone()).await);
    let (_, claims) = crate::helpers::jwt_parts(&access);
    let grant_id = claims["gid"].as_str().expect("a grant id").to_owned();
    for id in [&web_id, &service_id] {
        let (status, body) = world
            .call(
                Method::DELETE,
                &format!("applications/{id}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    assert!(
        !introspect(access).await,
        "the access token died with its app"
    );
    assert!(
        !introspect(refresh.clone()).await,
        "so did the refresh token"
    );
    let grant = world.app.state.store.grant_by_id(&grant_id).await.unwrap();
    assert!(
        grant.revoked_at.is_some(),
        "the grant is revoked with its refresh family"
    );
    assert!(
        !introspect(service_token).await,
        "and the client-credentials token"
    );
    // The refresh token is dead for whoever presents it.
    let response = world
        .app
        .token(
            SLUG,
            &web,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "the client is gone"
    );
    let response = world
        .app
        .token(
            SLUG,
            &world.web,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let (status, _) = world
        .call(
            Method::GET,
            &format!("applications/{web_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let events = audit_activities(&world, &token).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e["activityDisplayName"] == "Delete application")
            .count(),
        2
    );
}

#[tokio::test]
async fn a_change_on_one_node_is_seen_by_the_other_at_once() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let (id, client) = service_app(&world, "Clustered").await;
    let other = TestApp::spawn_on(world.app.backing(), |_| {}).await;
    let response = other
        .token(SLUG, &client, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the other node has it cached"
    );
    let (status, _) = world
        .call(
            Method::PATCH,
            &format!("applications/{id}"),
            Some(&token),
            Some(json!({"accountEnabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let started = std::time::Instant::now();
    loop {
        let response = other
            .token(SLUG, &client, &[("grant_type", "client_credentials")])
            .await;
        if response.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 5,
            "the other node still admits the disabled app"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
