//! RP-initiated logout (SECURITY.md F.48–F.50).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Browser, Client, Pkce, TestApp, encode, location, parse_form, query_param};

const REDIRECT: &str = "https://rp.example/cb";
const LOGGED_OUT: &str = "https://rp.example/cb/logged-out";
const EMAIL: &str = "alice@contoso.example";
const PASSWORD: &str = "correct horse battery";

/// A signed-in browser and its ID token.
async fn signed_in() -> (TestApp, Client, Browser, String) {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let client = app.web_app("contoso", REDIRECT).await;
    let browser = app.browser();
    let pkce = Pkce::new();
    let back = browser
        .sign_in(
            &client.authorize_url(&app.issuer("contoso"), "openid", &pkce, &[]),
            EMAIL,
            PASSWORD,
        )
        .await;
    let tokens: Value = app
        .token(
            "contoso",
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &query_param(&back, "code").unwrap()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    (app, client, browser, id_token)
}

fn logout_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    format!("{}/oauth2/logout?{}", app.issuer("contoso"), encode(params))
}

async fn still_signed_in(app: &TestApp, client: &Client, browser: &Browser) -> bool {
    let url = client.authorize_url(
        &app.issuer("contoso"),
        "openid",
        &Pkce::new(),
        &[("prompt", "none")],
    );
    let back = location(&browser.get(&url).await).unwrap();
    query_param(&back, "code").is_some()
}

#[tokio::test]
async fn a_valid_hint_and_registered_uri_log_out_and_redirect_with_state() {
    let (app, client, browser, id_token) = signed_in().await;
    let response = browser
        .get(&logout_url(
            &app,
            &[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", LOGGED_OUT),
                ("state", "bye-1"),
            ],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&response).unwrap(),
        format!("{LOGGED_OUT}?state=bye-1")
    );
    let url = client.authorize_url(
        &app.issuer("contoso"),
        "openid",
        &Pkce::new(),
        &[("prompt", "none")],
    );
    let back = location(&browser.get(&url).await).unwrap();
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn bad_uris_and_bad_hints_never_redirect_and_keep_the_session() {
    let (app, client, browser, id_token) = signed_in().await;
    let parts: Vec<&str> = id_token.split('.').collect();
    let mut signature: Vec<char> = parts[2].chars().collect();
    let middle = signature.len() / 2;
    signature[middle] = if signature[middle] == 'A' { 'B' } else { 'A' };
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        signature.into_iter().collect::<String>()
    );
    use base64::Engine;
    let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    let alg_none = format!("{none_header}.{}.", parts[1]);
    for params in [
        vec![
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        vec![
            ("id_token_hint", id_token.as_str()),
            (
                "post_logout_redirect_uri",
                "https://rp.example/cb/logged-out?x=1",
            ),
        ],
        vec![
            ("id_token_hint", tampered.as_str()),
            ("post_logout_redirect_uri", LOGGED_OUT),
        ],
        vec![
            ("id_token_hint", alg_none.as_str()),
            ("post_logout_redirect_uri", LOGGED_OUT),
        ],
        vec![
            ("post_logout_redirect_uri", LOGGED_OUT),
            ("client_id", client.client_id.as_str()),
        ],
        vec![
            ("id_token_hint", id_token.as_str()),
            ("client_id", "someone-else"),
        ],
    ] {
        let response = browser.get(&logout_url(&app, &params)).await;
        assert!(
            location(&response).is_none(),
            "{params:?} must not redirect"
        );
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(
            still_signed_in(&app, &client, &browser).await,
            "{params:?} must not log out"
        );
    }
}

#[tokio::test]
async fn without_a_hint_logout_needs_the_users_confirmation() {
    let (app, client, browser, _) = signed_in().await;
    for params in [vec![], vec![("state", "s")]] {
        let response = browser.get(&logout_url(&app, &params)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            still_signed_in(&app, &client, &browser).await,
            "a GET alone must not log out"
        );
    }
    let page = browser
        .get(&logout_url(&app, &[]))
        .await
        .text()
        .await
        .unwrap();
    let form = parse_form(&page);
    // A forged confirmation from another site is refused.
    let fields: Vec<(&str, String)> = form
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let forged = browser
        .post_cross_site(&form.action, "https://evil.example", &fields)
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(still_signed_in(&app, &client, &browser).await);
    let mut fields = form.fields.clone();
    fields.insert("csrf".into(), "guessed".into());
    assert_eq!(
        browser.post_form(&form.action, &fields).await.status(),
        StatusCode::FORBIDDEN
    );
    let confirmed = browser.post_form(&form.action, &form.fields).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert!(
        confirmed
            .text()
            .await
            .unwrap()
            .contains("You have been signed out")
    );
    assert!(!still_signed_in(&app, &client, &browser).await);
}

#[tokio::test]
async fn an_rps_cross_site_logout_post_ends_the_session_through_one_hop() {
    let (app, client, browser, id_token) = signed_in().await;
    // The RP's page posts the logout form: a cross-site POST, so no Lax session cookie.
    let posted = browser
        .post_cross_site(
            &format!("{}/oauth2/logout", app.issuer("contoso")),
            "https://rp.example",
            &[
                ("id_token_hint", id_token.clone()),
                ("post_logout_redirect_uri", LOGGED_OUT.into()),
                ("state", "bye-2".into()),
            ],
        )
        .await;
    assert_eq!(posted.status(), StatusCode::SEE_OTHER, "one hop to a GET");
    let hop = location(&posted).unwrap();
    assert!(hop.contains("/oauth2/logout?resume="), "{hop}");
    assert!(!hop.contains(&id_token), "the hint is not put in the URL");
    assert!(
        still_signed_in(&app, &client, &browser).await,
        "nothing ended yet"
    );
    let back = browser.get(&hop).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&back).unwrap(),
        format!("{LOGGED_OUT}?state=bye-2")
    );
    assert!(
        !still_signed_in(&app, &client, &browser).await,
        "the session ended"
    );
    // The parked request works once.
    let again = browser.get(&hop).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}
