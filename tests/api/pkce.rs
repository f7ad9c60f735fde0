//! PKCE and the authorization code (SECURITY.md B.18–B.24, R9).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Client, Pkce, TestApp, location, query_param};

const REDIRECT: &str = "https://rp.example/cb";
const EMAIL: &str = "alice@contoso.example";
const PASSWORD: &str = "correct horse battery";

async fn setup_with(tune: impl FnOnce(&mut gatehouse::Config)) -> (TestApp, Client) {
    let app = TestApp::spawn_with(tune).await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let client = app.web_app("contoso", REDIRECT).await;
    (app, client)
}

async fn code_for(app: &TestApp, client: &Client, pkce: &Pkce, scope: &str) -> String {
    let url = client.authorize_url(&app.issuer("contoso"), scope, pkce, &[]);
    let back = app.browser().sign_in(&url, EMAIL, PASSWORD).await;
    query_param(&back, "code").unwrap()
}

async fn exchange(
    app: &TestApp,
    client: &Client,
    code: &str,
    verifier: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let response = app.token("contoso", client, &form).await;
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_missing_or_plain_or_unknown_challenge_is_refused() {
    let (app, client) = setup_with(|_| {}).await;
    let pkce = Pkce::new();
    let issuer = app.issuer("contoso");
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("code_challenge_method", "plain")], "S256"),
        (&[("code_challenge_method", "S512")], "S256"),
        (&[("code_challenge", "short")], "malformed"),
    ];
    for (extra, expected) in cases {
        let mut url = client.authorize_url(&issuer, "openid", &pkce, &[]);
        for (k, v) in extra {
            url = url
                .replace(&format!("{k}="), &format!("{k}_old="))
                .to_owned()
                + &format!("&{k}={v}");
        }
        let back = location(&app.browser().get(&url).await).unwrap();
        assert_eq!(
            query_param(&back, "error").as_deref(),
            Some("invalid_request")
        );
        assert!(
            query_param(&back, "error_description")
                .unwrap()
                .contains(expected),
            "{back}"
        );
    }
    let without = client
        .authorize_url(&issuer, "openid", &pkce, &[])
        .replace("code_challenge=", "x_challenge=");
    let back = location(&app.browser().get(&without).await).unwrap();
    assert_eq!(
        query_param(&back, "error_description").as_deref(),
        Some("code challenge required (PKCE with S256)")
    );
    let metadata = app.discovery("contoso").await;
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
}

#[tokio::test]
async fn a_wrong_missing_or_malformed_verifier_is_invalid_grant() {
    let (app, client) = setup_with(|_| {}).await;
    for verifier in [
        Some(Pkce::new().verifier),
        None,
        Some("a".repeat(42)),
        Some("a".repeat(129)),
        Some(format!("{}!", "a".repeat(50))),
    ] {
        let pkce = Pkce::new();
        let code = code_for(&app, &client, &pkce, "openid").await;
        let (status, body) = exchange(&app, &client, &code, verifier.as_deref()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{verifier:?}");
        assert_eq!(body["error"], "invalid_grant", "{verifier:?}");
    }
}

#[tokio::test]
async fn a_replayed_code_fails_and_revokes_the_tokens_it_issued() {
    let (app, client) = setup_with(|_| {}).await;
    let pkce = Pkce::new();
    let code = code_for(&app, &client, &pkce, "openid offline_access").await;
    let (status, tokens) = exchange(&app, &client, &code, Some(&pkce.verifier)).await;
    assert_eq!(status, StatusCode::OK);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.userinfo_status("contoso", &access).await,
        StatusCode::OK
    );

    // A replay with a wrong verifier is refused but revokes nothing.
    let (status, body) = exchange(&app, &client, &code, Some(&Pkce::new().verifier)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        app.userinfo_status("contoso", &access).await,
        StatusCode::OK
    );

    // The real replay revokes the access and refresh tokens.
    let (status, body) = exchange(&app, &client, &code, Some(&pkce.verifier)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        app.userinfo_status("contoso", &access).await,
        StatusCode::UNAUTHORIZED
    );
    let response = app
        .token(
            "contoso",
            &client,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn a_code_issued_to_one_client_cannot_be_redeemed_by_another() {
    let (app, client) = setup_with(|_| {}).await;
    let other = app.web_app("contoso", REDIRECT).await;
    let pkce = Pkce::new();
    let code = code_for(&app, &client, &pkce, "openid").await;
    let (status, body) = exchange(&app, &other, &code, Some(&pkce.verifier)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_different_redirect_uri_at_the_token_endpoint_is_invalid_grant() {
    let (app, client) = setup_with(|_| {}).await;
    let pkce = Pkce::new();
    let code = code_for(&app, &client, &pkce, "openid").await;
    let response = app
        .token(
            "contoso",
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://rp.example/cb/"),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let (app, client) = setup_with(|c| c.tokens.code_ttl = 1).await;
    let pkce = Pkce::new();
    let code = code_for(&app, &client, &pkce, "openid").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = exchange(&app, &client, &code, Some(&pkce.verifier)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn of_fifty_parallel_redemptions_of_one_code_exactly_one_succeeds_and_is_then_revoked() {
    let (app, client) = setup_with(|_| {}).await;
    let pkce = Pkce::new();
    let code = code_for(&app, &client, &pkce, "openid").await;
    let attempts = (0..50).map(|_| exchange(&app, &client, &code, Some(&pkce.verifier)));
    let results = futures::future::join_all(attempts).await;
    let winners: Vec<&Value> = results
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        results
            .iter()
            .map(|(s, b)| (s.as_u16(), b["error"].clone()))
            .collect::<Vec<_>>()
    );
    assert!(
        results
            .iter()
            .filter(|(status, _)| *status != StatusCode::OK)
            .all(|(_, body)| body["error"] == "invalid_grant")
    );
    let access = winners[0]["access_token"].as_str().unwrap();
    let status = app.userinfo_status("contoso", access).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the losers' replays revoke the winner's grant"
    );
}
