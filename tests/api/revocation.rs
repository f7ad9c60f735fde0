//! Revocation (RFC 7009) and introspection (RFC 7662): SECURITY.md E.44–E.45.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp};

const REDIRECT: &str = "https://rp.example/cb";
const EMAIL: &str = "alice@contoso.example";
const PASSWORD: &str = "correct horse battery";

async fn setup() -> (TestApp, Client, Value) {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let client = app.web_app("contoso", REDIRECT).await;
    let tokens = app
        .sign_in_and_redeem("contoso", &client, EMAIL, PASSWORD, "openid offline_access")
        .await;
    (app, client, tokens)
}

async fn post(
    app: &TestApp,
    path: &str,
    client: &Client,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.api()
        .post(format!("{}/oauth2/{path}", app.issuer("contoso")))
        .basic_auth(&client.client_id, client.secret.as_deref())
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn revoking_a_refresh_token_kills_it_and_the_access_tokens_of_its_grant() {
    let (app, client, tokens) = setup().await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let at = tokens["access_token"].as_str().unwrap();
    let introspected: Value = post(&app, "introspect", &client, &[("token", at)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["client_id"], client.client_id);
    assert_eq!(
        post(&app, "revoke", &client, &[("token", rt)])
            .await
            .status(),
        StatusCode::OK
    );
    for token in [rt, at] {
        let body: Value = post(&app, "introspect", &client, &[("token", token)])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body, json!({"active": false}));
    }
    let refreshed = app
        .token(
            "contoso",
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await;
    assert_eq!(
        refreshed.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn revoking_an_access_token_and_garbage() {
    let (app, client, tokens) = setup().await;
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        post(&app, "revoke", &client, &[("token", "garbage")])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        post(
            &app,
            "revoke",
            &client,
            &[("token", at), ("token_type_hint", "access_token")]
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.userinfo_status("contoso", at).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn another_client_cannot_revoke_and_its_attempt_changes_nothing() {
    let (app, client, tokens) = setup().await;
    let other = app.web_app("contoso", REDIRECT).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let response = post(&app, "revoke", &other, &[("token", rt)]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = post(&app, "introspect", &client, &[("token", rt)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["active"], true);
}

#[tokio::test]
async fn client_credentials_tokens_are_revoked_by_jti() {
    let (app, _, _) = setup().await;
    let backend = app.service_app("contoso", "RS256").await;
    let token: Value = app
        .token("contoso", &backend, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    let at = token["access_token"].as_str().unwrap();
    let before: Value = post(&app, "introspect", &backend, &[("token", at)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before["active"], true);
    assert_eq!(
        post(&app, "revoke", &backend, &[("token", at)])
            .await
            .status(),
        StatusCode::OK
    );
    let after: Value = post(&app, "introspect", &backend, &[("token", at)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after, json!({"active": false}));
}

#[tokio::test]
async fn introspection_needs_client_authentication() {
    let (app, _, tokens) = setup().await;
    let response = app
        .api()
        .post(format!("{}/oauth2/introspect", app.issuer("contoso")))
        .form(&[("token", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
