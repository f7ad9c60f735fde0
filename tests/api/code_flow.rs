//! The happy code flow end to end, its tokens' claims, re-authentication rules
//! (SECURITY.md A.14, A.15, D.36–D.38, D.40) and a real third-party RP (the `openidconnect`
//! crate) signing in.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Pkce, TestApp, jwt_parts, location, query_param, verify_with_jwks};

const REDIRECT: &str = "http://127.0.0.1/cb";
const EMAIL: &str = "alice@contoso.example";
const PASSWORD: &str = "correct horse battery";

async fn setup() -> (TestApp, crate::helpers::Client) {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let client = app.web_app("contoso", REDIRECT).await;
    (app, client)
}

async fn redeem(app: &TestApp, client: &crate::helpers::Client, back: &str, pkce: &Pkce) -> Value {
    let code = query_param(back, "code").unwrap();
    let response = app
        .token(
            "contoso",
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &query_redirect(back)),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn query_redirect(back: &str) -> String {
    back.split('?').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_code_flow_yields_verified_id_and_access_tokens_with_the_expected_claims() {
    let (app, client) = setup().await;
    let tokens = app
        .sign_in_and_redeem(
            "contoso",
            &client,
            EMAIL,
            PASSWORD,
            "openid profile email offline_access",
        )
        .await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].is_string());
    let id_token = tokens["id_token"].as_str().unwrap();
    let (header, _) = jwt_parts(id_token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    let claims = verify_with_jwks(&app, "contoso", id_token).await;
    assert_eq!(claims["iss"], app.issuer("contoso"));
    assert_eq!(claims["aud"], client.client_id);
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["acr"], "https://refeds.org/profile/sfa");
    assert_eq!(claims["acct"], 0);
    assert!(claims["auth_time"].is_i64() && claims["exp"].is_i64() && claims["iat"].is_i64());
    assert!(claims["tid"].is_string() && claims["oid"].is_string() && claims["sid"].is_string());
    assert_eq!(claims["email"], EMAIL);
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["name"], "Alice Example");
    let sub = claims["sub"].as_str().unwrap();
    assert!(sub.len() <= 255 && sub.is_ascii());
    let access = tokens["access_token"].as_str().unwrap();
    let (at_header, _) = jwt_parts(access);
    assert_eq!(at_header["typ"], "at+jwt");
    let at = verify_with_jwks(&app, "contoso", access).await;
    assert_eq!(at["sub"], sub);
    assert_eq!(at["client_id"], client.client_id);
    assert!(at["jti"].is_string() && at["scope"].as_str().unwrap().contains("openid"));
    assert_eq!(claims["at_hash"], gatehouse::oidc::claims::at_hash(access));
}

#[tokio::test]
async fn without_nonce_or_profile_scope_the_flow_still_works_and_claims_follow_scopes() {
    let (app, client) = setup().await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let url = client.authorize_url(&app.issuer("contoso"), "openid", &pkce, &[]);
    let back = browser.sign_in(&url, EMAIL, PASSWORD).await;
    let tokens = redeem(&app, &client, &back, &pkce).await;
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
    let claims = verify_with_jwks(&app, "contoso", tokens["id_token"].as_str().unwrap()).await;
    assert!(claims.get("nonce").is_none());
    assert!(claims.get("email").is_none() && claims.get("name").is_none());
}

#[tokio::test]
async fn prompt_login_and_max_age_force_a_new_authentication_and_move_auth_time() {
    let (app, client) = setup().await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let issuer = app.issuer("contoso");
    let back = browser
        .sign_in(
            &client.authorize_url(&issuer, "openid", &pkce, &[]),
            EMAIL,
            PASSWORD,
        )
        .await;
    let first = redeem(&app, &client, &back, &pkce).await;
    let first = jwt_parts(first["id_token"].as_str().unwrap()).1;

    // max_age=10000: no prompt, same auth_time and sub.
    let url = client.authorize_url(&issuer, "openid", &pkce, &[("max_age", "10000")]);
    let back = location(&browser.get(&url).await).unwrap();
    let again = redeem(&app, &client, &back, &pkce).await;
    let again = jwt_parts(again["id_token"].as_str().unwrap()).1;
    assert_eq!(again["auth_time"], first["auth_time"]);
    assert_eq!(again["sub"], first["sub"]);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    for extra in [("max_age", "1"), ("prompt", "login")] {
        let url = client.authorize_url(&issuer, "openid", &pkce, &[extra]);
        let response = browser.get(&url).await;
        let to = location(&response).unwrap();
        assert!(
            to.contains("/contoso/login?tx="),
            "{extra:?} must show the sign-in page"
        );
    }
    let url = client.authorize_url(&issuer, "openid", &pkce, &[("prompt", "login")]);
    let back = browser.sign_in(&url, EMAIL, PASSWORD).await;
    let fresh = redeem(&app, &client, &back, &pkce).await;
    let fresh = jwt_parts(fresh["id_token"].as_str().unwrap()).1;
    assert!(fresh["auth_time"].as_i64() > first["auth_time"].as_i64());
    assert_eq!(fresh["sub"], first["sub"]);
}

#[tokio::test]
async fn id_token_hint_for_another_user_or_issuer_never_yields_that_users_token() {
    let (app, client) = setup().await;
    app.user("contoso", "bob@contoso.example", "bob's long password")
        .await;
    app.tenant("fabrikam").await;
    app.user(
        "fabrikam",
        "carol@fabrikam.example",
        "carol's long password",
    )
    .await;
    let fabrikam_client = app.web_app("fabrikam", REDIRECT).await;
    let bob = app
        .sign_in_and_redeem(
            "contoso",
            &client,
            "bob@contoso.example",
            "bob's long password",
            "openid",
        )
        .await;
    let carol = app
        .sign_in_and_redeem(
            "fabrikam",
            &fabrikam_client,
            "carol@fabrikam.example",
            "carol's long password",
            "openid",
        )
        .await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let issuer = app.issuer("contoso");
    let alice_back = browser
        .sign_in(
            &client.authorize_url(&issuer, "openid", &pkce, &[]),
            EMAIL,
            PASSWORD,
        )
        .await;
    let alice = redeem(&app, &client, &alice_back, &pkce).await;

    let with_hint = |hint: &str| {
        client.authorize_url(
            &issuer,
            "openid",
            &pkce,
            &[("prompt", "none"), ("id_token_hint", hint)],
        )
    };
    let back = location(
        &browser
            .get(&with_hint(bob["id_token"].as_str().unwrap()))
            .await,
    )
    .unwrap();
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("login_required")
    );
    let back = location(
        &browser
            .get(&with_hint(carol["id_token"].as_str().unwrap()))
            .await,
    )
    .unwrap();
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_request")
    );
    let back = location(
        &browser
            .get(&with_hint(alice["id_token"].as_str().unwrap()))
            .await,
    )
    .unwrap();
    assert!(
        query_param(&back, "code").is_some(),
        "her own hint answers silently"
    );
}

#[tokio::test]
async fn es256_apps_get_es256_tokens_that_verify_against_the_jwks() {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let (client_id, secret) = app
        .app(gatehouse::services::admin::AppInput {
            tenant: "contoso".into(),
            name: "EC".into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![],
            public: false,
            grants: vec![],
            signing_alg: Some("ES256".into()),
            saml: None,
            ..Default::default()
        })
        .await;
    let client = crate::helpers::Client {
        client_id,
        secret,
        redirect_uri: REDIRECT.into(),
    };
    let tokens = app
        .sign_in_and_redeem("contoso", &client, EMAIL, PASSWORD, "openid")
        .await;
    for token in ["id_token", "access_token"] {
        let token = tokens[token].as_str().unwrap();
        assert_eq!(jwt_parts(token).0["alg"], "ES256");
        verify_with_jwks(&app, "contoso", token).await;
    }
}

#[tokio::test]
async fn the_openidconnect_crate_signs_in_as_a_relying_party() {
    use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
    use openidconnect::{
        AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
        OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
    };
    let (app, client) = setup().await;
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let issuer = IssuerUrl::new(app.issuer("contoso")).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .unwrap();
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.client_id.clone()),
        client.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = app.browser().sign_in(url.as_str(), EMAIL, PASSWORD).await;
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some(state.secret().as_str())
    );
    let code = query_param(&back, "code").unwrap();
    let response = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token exchange");
    let id_token = response.id_token().expect("an ID token");
    let claims = id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("the RP accepts the ID token");
    assert_eq!(claims.email().map(|e| e.as_str()), Some(EMAIL));
    let userinfo: openidconnect::core::CoreUserInfoClaims = rp
        .user_info(response.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(userinfo.subject(), claims.subject());
}

#[tokio::test]
async fn signing_in_as_someone_else_than_the_id_token_hint_names_yields_no_code() {
    let (app, client) = setup().await;
    app.user("contoso", "bob@contoso.example", "bob's long password")
        .await;
    let bob = app
        .sign_in_and_redeem(
            "contoso",
            &client,
            "bob@contoso.example",
            "bob's long password",
            "openid",
        )
        .await;
    let pkce = Pkce::new();
    let url = client.authorize_url(
        &app.issuer("contoso"),
        "openid",
        &pkce,
        &[("id_token_hint", bob["id_token"].as_str().unwrap())],
    );
    let back = app.browser().sign_in(&url, EMAIL, PASSWORD).await;
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("login_required")
    );
    assert!(query_param(&back, "code").is_none());
}
