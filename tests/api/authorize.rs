//! The authorization endpoint: redirect-URI rules, client checks, parameter validation,
//! `iss` on every response, prompt and max_age (SECURITY.md A.1–A.17).

use reqwest::StatusCode;

use crate::helpers::{Pkce, TestApp, encode, location, query_param};

const REDIRECT: &str = "https://rp.example/cb";

async fn setup() -> (TestApp, crate::helpers::Client) {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", "alice@contoso.example", "correct horse battery")
        .await;
    let client = app.web_app("contoso", REDIRECT).await;
    (app, client)
}

fn authorize_with(app: &TestApp, params: &[(&str, &str)]) -> String {
    format!(
        "{}/oauth2/authorize?{}",
        app.issuer("contoso"),
        encode(params)
    )
}

#[tokio::test]
async fn a_redirect_uri_that_differs_in_any_way_gets_an_error_page_and_no_redirect() {
    let (app, client) = setup().await;
    let pkce = Pkce::new();
    for near_miss in [
        "https://rp.example/cb/",
        "https://rp.example/CB",
        "https://rp.example/cb?x=1",
        "https://rp.example/cb#frag",
        "https://user@rp.example/cb",
        "https://rp.example/%63b",
        "https://rp.example/c",
        "https://evil.example/cb",
    ] {
        let mut bad = client.clone();
        bad.redirect_uri = near_miss.into();
        let url = bad.authorize_url(&app.issuer("contoso"), "openid", &pkce, &[]);
        let response = app.browser().get(&url).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{near_miss}");
        assert!(
            location(&response).is_none(),
            "{near_miss} must not redirect"
        );
        let page = response.text().await.unwrap();
        assert!(page.contains("not been redirected"), "{near_miss}");
    }
}

#[tokio::test]
async fn a_registered_query_is_kept_and_the_response_parameters_appended() {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", "alice@contoso.example", "correct horse battery")
        .await;
    let client = app.web_app("contoso", "https://rp.example/cb?x=1").await;
    let pkce = Pkce::new();
    let url = client.authorize_url(&app.issuer("contoso"), "openid", &pkce, &[]);
    let back = app
        .browser()
        .sign_in(&url, "alice@contoso.example", "correct horse battery")
        .await;
    assert!(
        back.starts_with("https://rp.example/cb?x=1&code="),
        "{back}"
    );
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-1"));
    assert_eq!(query_param(&back, "iss"), Some(app.issuer("contoso")));
}

#[tokio::test]
async fn unknown_clients_and_other_tenants_clients_get_a_page_not_a_redirect() {
    let (app, client) = setup().await;
    app.tenant("fabrikam").await;
    let pkce = Pkce::new();
    let mut unknown = client.clone();
    unknown.client_id = "00000000-0000-0000-0000-000000000000".into();
    for (issuer, c) in [
        (app.issuer("contoso"), &unknown),
        (app.issuer("fabrikam"), &client),
    ] {
        let response = app
            .browser()
            .get(&c.authorize_url(&issuer, "openid", &pkce, &[]))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(location(&response).is_none());
    }
}

#[tokio::test]
async fn a_missing_redirect_uri_is_refused_without_redirecting() {
    let (app, client) = setup().await;
    let pkce = Pkce::new();
    let url = authorize_with(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", &client.client_id),
            ("scope", "openid"),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let response = app.browser().get(&url).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(location(&response).is_none());
}

#[tokio::test]
async fn repeated_parameters_are_invalid_requests() {
    let (app, client) = setup().await;
    let pkce = Pkce::new();
    let base = client.authorize_url(&app.issuer("contoso"), "openid", &pkce, &[]);
    let response = app.browser().get(&format!("{base}&scope=profile")).await;
    let back = location(&response).expect("a redirect with the error");
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&back, "iss"), Some(app.issuer("contoso")));
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-1"));
    let response = app
        .browser()
        .get(&format!(
            "{base}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb"
        ))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(location(&response).is_none());
}

#[tokio::test]
async fn unknown_parameters_and_reordered_scopes_are_ignored() {
    let (app, client) = setup().await;
    let pkce = Pkce::new();
    let url = client.authorize_url(
        &app.issuer("contoso"),
        "email profile openid",
        &pkce,
        &[
            ("extra", "foobar"),
            ("display", "popup"),
            ("ui_locales", "fr en"),
            ("claims_locales", "de"),
            ("acr_values", "urn:x"),
        ],
    );
    let back = app
        .browser()
        .sign_in(&url, "alice@contoso.example", "correct horse battery")
        .await;
    assert!(query_param(&back, "code").is_some(), "{back}");
}

#[tokio::test]
async fn response_type_must_be_code() {
    let (app, client) = setup().await;
    let pkce = Pkce::new();
    for (response_type, expected) in [
        (None, "invalid_request"),
        (Some("token"), "unsupported_response_type"),
        (Some("id_token token"), "unsupported_response_type"),
    ] {
        let mut params = vec![
            ("client_id", client.client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("state", "s"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if let Some(rt) = response_type {
            params.push(("response_type", rt));
        }
        let response = app.browser().get(&authorize_with(&app, &params)).await;
        let back = location(&response).unwrap();
        assert_eq!(query_param(&back, "error").as_deref(), Some(expected));
        assert_eq!(query_param(&back, "iss"), Some(app.issuer("contoso")));
        let description = query_param(&back, "error_description").unwrap();
        assert!(!description.contains(['\r', '\n', '\t']));
    }
}

#[tokio::test]
async fn request_objects_are_declined_as_unsupported() {
    let (app, client) = setup().await;
    let pkce = Pkce::new();
    for (param, expected) in [
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
    ] {
        let url = client.authorize_url(
            &app.issuer("contoso"),
            "openid",
            &pkce,
            &[(param, "eyJhbGciOiJub25lIn0.e30.")],
        );
        let back = location(&app.browser().get(&url).await).unwrap();
        assert_eq!(query_param(&back, "error").as_deref(), Some(expected));
    }
}

#[tokio::test]
async fn authorize_accepts_post_and_never_answers_cors() {
    let (app, client) = setup().await;
    let pkce = Pkce::new();
    let browser = app.browser();
    let response = browser
        .post_cross_site(
            &format!("{}/oauth2/authorize", app.issuer("contoso")),
            "https://evil.example",
            &[
                ("response_type", "code".into()),
                ("client_id", client.client_id.clone()),
                ("redirect_uri", REDIRECT.into()),
                ("scope", "openid".into()),
                ("code_challenge", pkce.challenge.clone()),
                ("code_challenge_method", "S256".into()),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(location(&response).unwrap().contains("/contoso/login?tx="));
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required_and_cannot_be_combined() {
    let (app, client) = setup().await;
    let pkce = Pkce::new();
    let url = client.authorize_url(
        &app.issuer("contoso"),
        "openid",
        &pkce,
        &[("prompt", "none")],
    );
    let back = location(&app.browser().get(&url).await).unwrap();
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("login_required")
    );
    assert_eq!(query_param(&back, "iss"), Some(app.issuer("contoso")));
    let url = client.authorize_url(
        &app.issuer("contoso"),
        "openid",
        &pkce,
        &[("prompt", "none login")],
    );
    let back = location(&app.browser().get(&url).await).unwrap();
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn prompt_none_with_a_session_answers_silently() {
    let (app, client) = setup().await;
    let browser = app.browser();
    let pkce = Pkce::new();
    browser
        .sign_in(
            &client.authorize_url(&app.issuer("contoso"), "openid", &pkce, &[]),
            "alice@contoso.example",
            "correct horse battery",
        )
        .await;
    let url = client.authorize_url(
        &app.issuer("contoso"),
        "openid",
        &pkce,
        &[("prompt", "none")],
    );
    let back = location(&browser.get(&url).await).unwrap();
    assert!(query_param(&back, "code").is_some(), "{back}");
}

#[tokio::test]
async fn login_hint_skips_the_email_step() {
    let (app, client) = setup().await;
    let pkce = Pkce::new();
    let browser = app.browser();
    let url = client.authorize_url(
        &app.issuer("contoso"),
        "openid",
        &pkce,
        &[("login_hint", "alice@contoso.example")],
    );
    let (_, html) = browser.open_login(&url).await;
    assert!(html.contains("name=\"password\""));
    assert!(html.contains("alice@contoso.example"));
    let response = browser
        .submit_password(&html, "correct horse battery")
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn form_post_delivers_code_state_and_iss_in_a_self_submitting_page() {
    let (app, client) = setup().await;
    let pkce = Pkce::new();
    let browser = app.browser();
    let url = client.authorize_url(
        &app.issuer("contoso"),
        "openid",
        &pkce,
        &[("response_mode", "form_post")],
    );
    let (_, html) = browser.open_login(&url).await;
    let html = browser.submit_email(&html, "alice@contoso.example").await;
    let response = browser
        .submit_password(&html, "correct horse battery")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self' https://rp.example"),
        "{csp}"
    );
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    let form = crate::helpers::parse_form(&response.text().await.unwrap());
    assert_eq!(form.action, REDIRECT);
    assert!(form.fields.contains_key("code"));
    assert_eq!(form.fields["state"], "st-1");
    assert_eq!(form.fields["iss"], app.issuer("contoso"));
}

#[tokio::test]
async fn an_unsupported_response_mode_is_refused_by_query() {
    let (app, client) = setup().await;
    let pkce = Pkce::new();
    let url = client.authorize_url(
        &app.issuer("contoso"),
        "openid",
        &pkce,
        &[("response_mode", "fragment")],
    );
    let back = location(&app.browser().get(&url).await).unwrap();
    assert!(back.starts_with("https://rp.example/cb?"));
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn prompt_consent_shows_the_permissions_and_a_refusal_is_access_denied() {
    let (app, client) = setup().await;
    let pkce = Pkce::new();
    let browser = app.browser();
    let url = client.authorize_url(
        &app.issuer("contoso"),
        "openid email offline_access",
        &pkce,
        &[("prompt", "consent")],
    );
    let (_, html) = browser.open_login(&url).await;
    let html = browser.submit_email(&html, "alice@contoso.example").await;
    let response = browser
        .submit_password(&html, "correct horse battery")
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let consent = browser
        .get(&location(&response).unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert!(consent.contains("See your email address"));
    assert!(consent.contains("Keep access while you are away"));
    let mut form = crate::helpers::parse_form(&consent);
    form.fields.insert("decision".into(), "deny".into());
    let response = browser.post_form(&form.action, &form.fields).await;
    let back = location(&response).unwrap();
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&back, "iss"), Some(app.issuer("contoso")));
}
