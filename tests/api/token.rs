//! The token endpoint: client authentication, throttling, refresh rotation, client
//! credentials (SECURITY.md C.26–C.34, R10).

use reqwest::StatusCode;
use serde_json::Value;

use gatehouse::services::admin::{self, AppInput};

use crate::helpers::{Client, TestApp, jwt_parts, verify_with_jwks};

const REDIRECT: &str = "https://rp.example/cb";
const EMAIL: &str = "alice@contoso.example";
const PASSWORD: &str = "correct horse battery";

async fn setup() -> (TestApp, Client) {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let client = app.web_app("contoso", REDIRECT).await;
    (app, client)
}

fn token_url(app: &TestApp) -> String {
    format!("{}/oauth2/token", app.issuer("contoso"))
}

#[tokio::test]
async fn missing_or_wrong_client_credentials_are_401_with_a_challenge() {
    let (app, client) = setup().await;
    let form = [("grant_type", "client_credentials")];
    let cases = [
        app.api().post(token_url(&app)).form(&form),
        app.api()
            .post(token_url(&app))
            .basic_auth(&client.client_id, Some("wrong"))
            .form(&form),
        app.api().post(token_url(&app)).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client.client_id.as_str()),
            ("client_secret", "wrong"),
        ]),
        app.api().post(token_url(&app)).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client.client_id.as_str()),
        ]),
    ];
    for request in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_client"
        );
    }
}

#[tokio::test]
async fn client_secret_post_works_and_two_methods_at_once_do_not() {
    let (app, _) = setup().await;
    let backend = app.service_app("contoso", "RS256").await;
    let secret = backend.secret.clone().unwrap();
    let response = app
        .api()
        .post(token_url(&app))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", backend.client_id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .api()
        .post(token_url(&app))
        .basic_auth(&backend.client_id, Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn repeated_wrong_secrets_are_throttled_with_429() {
    let (app, client) = setup().await;
    let mut statuses = Vec::new();
    for _ in 0..25 {
        let response = app
            .api()
            .post(token_url(&app))
            .basic_auth(&client.client_id, Some("guess"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert_eq!(*statuses.last().unwrap(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        20
    );
}

#[tokio::test]
async fn client_credentials_gives_a_jwt_access_token_whose_subject_is_the_client() {
    let (app, _) = setup().await;
    for alg in ["RS256", "ES256"] {
        let backend = app.service_app("contoso", alg).await;
        let response = app
            .token("contoso", &backend, &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
        let token = body["access_token"].as_str().unwrap();
        let (header, _) = jwt_parts(token);
        assert_eq!(
            (header["alg"].as_str(), header["typ"].as_str()),
            (Some(alg), Some("at+jwt"))
        );
        let claims = verify_with_jwks(&app, "contoso", token).await;
        assert_eq!(claims["sub"], backend.client_id);
        assert_eq!(claims["client_id"], backend.client_id);
        assert!(claims.get("oid").is_none(), "no user");
    }
}

#[tokio::test]
async fn client_credentials_refuses_public_clients_unlisted_grants_and_scopes() {
    let (app, web) = setup().await;
    let (public_id, _) = app
        .app(AppInput {
            tenant: "contoso".into(),
            name: "SPA".into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![],
            public: true,
            grants: vec![],
            signing_alg: None,
            saml: None,
            ..Default::default()
        })
        .await;
    let public = Client {
        client_id: public_id,
        secret: None,
        redirect_uri: REDIRECT.into(),
    };
    let backend = app.service_app("contoso", "RS256").await;
    for (client, form, expected) in [
        (
            &public,
            vec![("grant_type", "client_credentials")],
            "unauthorized_client",
        ),
        (
            &web,
            vec![("grant_type", "client_credentials")],
            "unauthorized_client",
        ),
        (
            &backend,
            vec![
                ("grant_type", "client_credentials"),
                ("scope", "User.Invite.All"),
            ],
            "invalid_scope",
        ),
        (
            &backend,
            vec![
                ("grant_type", "password"),
                ("username", "a"),
                ("password", "b"),
            ],
            "unsupported_grant_type",
        ),
        (
            &backend,
            vec![
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ],
            "invalid_request",
        ),
    ] {
        let response = app.token("contoso", client, &form).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{expected}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], expected);
    }
    let public_with_secret = app
        .api()
        .post(token_url(&app))
        .basic_auth(&public.client_id, Some("anything"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(public_with_secret.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let (app, client) = setup().await;
    let tokens = app
        .sign_in_and_redeem("contoso", &client, EMAIL, PASSWORD, "openid offline_access")
        .await;
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let app = &app;
        let client = &client;
        async move {
            let response = app
                .token(
                    "contoso",
                    client,
                    &[("grant_type", "refresh_token"), ("refresh_token", &token)],
                )
                .await;
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, second) = refresh(first.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let second_token = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_token, first);
    let id = jwt_parts(second["id_token"].as_str().unwrap()).1;
    assert!(id.get("nonce").is_none());
    let (status, body) = refresh(first).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = refresh(second_token).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "the successor died with the family"
    );
}

#[tokio::test]
async fn another_clients_refresh_token_and_extra_scope_are_refused_without_harm() {
    let (app, client) = setup().await;
    let other = app.web_app("contoso", REDIRECT).await;
    let tokens = app
        .sign_in_and_redeem("contoso", &client, EMAIL, PASSWORD, "openid offline_access")
        .await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let response = app
        .token(
            "contoso",
            &other,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let response = app
        .token(
            "contoso",
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", "openid email"),
            ],
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_scope"
    );
    let response = app
        .token(
            "contoso",
            &client,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the owner's token still works after both refusals"
    );
    assert_eq!(
        response.json::<Value>().await.unwrap()["scope"],
        "openid offline_access"
    );
}

#[tokio::test]
async fn refresh_tokens_die_when_the_user_is_disabled_or_the_password_reset() {
    let (app, client) = setup().await;
    let user = app
        .state
        .store
        .user_by_email(
            &app.state
                .directory
                .tenant("contoso")
                .await
                .unwrap()
                .unwrap()
                .id,
            EMAIL,
        )
        .await
        .unwrap();
    for change in ["disable", "password"] {
        let tokens = app
            .sign_in_and_redeem("contoso", &client, EMAIL, PASSWORD, "openid offline_access")
            .await;
        match change {
            "disable" => {
                admin::set_user_enabled(app.state.store.as_ref(), &user.tenant_id, &user.id, false)
                    .await
                    .unwrap();
            }
            _ => {
                admin::reset_password(
                    app.state.store.as_ref(),
                    &app.state.passwords,
                    &user.tenant_id,
                    &user.id,
                    PASSWORD.into(),
                )
                .await
                .unwrap();
            }
        }
        let response = app
            .token(
                "contoso",
                &client,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ],
            )
            .await;
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_grant",
            "{change}"
        );
        admin::set_user_enabled(app.state.store.as_ref(), &user.tenant_id, &user.id, true)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn parallel_refreshes_of_one_token_give_exactly_one_success() {
    let (app, client) = setup().await;
    let tokens = app
        .sign_in_and_redeem("contoso", &client, EMAIL, PASSWORD, "openid offline_access")
        .await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", rt)];
    let attempts = (0..8).map(|_| app.token("contoso", &client, &form));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn bodies_that_are_not_forms_or_too_large_are_refused_cleanly() {
    let (app, client) = setup().await;
    let response = app
        .api()
        .post(token_url(&app))
        .basic_auth(&client.client_id, client.secret.as_deref())
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let response = app
        .api()
        .post(token_url(&app))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = app
        .api()
        .post(token_url(&app))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', 0x80])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
