//! OIDC Back-Channel and Front-Channel Logout over real HTTP: a tiny receiver on port 0
//! stands in for the app's back-channel endpoint, records what it is sent and checks each
//! logout token with josekit against the tenant's JWKS; notifications on RP-initiated
//! logout, on every session of a user ending (`revokeSignInSessions`, disable), retried after
//! a 500 and kept across a restart; the front-channel iframes and their CSP.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use gatehouse::domain::app_profile::{AppLogout, AppProfile};
use gatehouse::domain::unix_now;
use gatehouse::services::admin::AppInput;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{
    Browser, Client, Pkce, TestApp, encode, jwt_parts, location, query_param, verify_with_jwks,
};

const REDIRECT: &str = "https://rp.example/cb";
const LOGGED_OUT: &str = "https://rp.example/cb/logged-out";
const EMAIL: &str = "alice@contoso.example";
const PASSWORD: &str = "correct horse battery";

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// Logout tokens, in order.
    tokens: Mutex<Vec<String>>,
    /// Requests, including the refused ones.
    hits: AtomicUsize,
    /// How many requests to answer 500 first.
    fail_first: AtomicUsize,
}

/// A back-channel logout endpoint on port 0.
struct Receiver {
    url: String,
    seen: Arc<Seen>,
}

async fn receive(State(seen): State<Arc<Seen>>, headers: HeaderMap, body: String) -> AxumStatus {
    let hit = seen.hits.fetch_add(1, Ordering::SeqCst);
    if hit < seen.fail_first.load(Ordering::SeqCst) {
        return AxumStatus::INTERNAL_SERVER_ERROR;
    }
    assert_eq!(
        headers["content-type"], "application/x-www-form-urlencoded",
        "a form post"
    );
    let token = url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .expect("logout_token in the body");
    seen.tokens.lock().unwrap().push(token);
    AxumStatus::OK
}

impl Receiver {
    async fn start(fail_first: usize) -> Self {
        let seen = Arc::new(Seen::default());
        seen.fail_first.store(fail_first, Ordering::SeqCst);
        let router = axum::Router::new()
            .route("/backchannel", axum::routing::post(receive))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            url: format!("http://127.0.0.1:{port}/backchannel"),
            seen,
        }
    }

    /// The logout tokens received, waiting up to `patience` for `count` of them.
    async fn tokens(&self, count: usize, patience: Duration) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let tokens = self.seen.tokens.lock().unwrap().clone();
            if tokens.len() >= count || tokio::time::Instant::now() > deadline {
                return tokens;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A web app that registered the receiver (and, optionally, a front-channel URI).
async fn logout_app(app: &TestApp, receiver: &Receiver, frontchannel: Option<&str>) -> Client {
    let profile = AppProfile {
        logout: AppLogout {
            backchannel_uri: Some(receiver.url.clone()),
            backchannel_session_required: true,
            frontchannel_uri: frontchannel.map(str::to_owned),
            frontchannel_session_required: true,
        },
        ..AppProfile::default()
    };
    let (client_id, secret) = app
        .app(AppInput {
            tenant: "contoso".into(),
            name: "Web".into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![LOGGED_OUT.into()],
            profile,
            ..Default::default()
        })
        .await;
    Client {
        client_id,
        secret,
        redirect_uri: REDIRECT.into(),
    }
}

/// Signs the browser in to `client`; its token response.
async fn sign_in(app: &TestApp, client: &Client, browser: &Browser) -> Value {
    let pkce = Pkce::new();
    let back = browser
        .sign_in(
            &client.authorize_url(&app.issuer("contoso"), "openid offline_access", &pkce, &[]),
            EMAIL,
            PASSWORD,
        )
        .await;
    app.token(
        "contoso",
        client,
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
    .unwrap()
}

/// Checks a logout token as OIDC Back-Channel Logout 1.0 §2.6 says an RP must, against the
/// ID token of the session it ends.
async fn check_logout_token(app: &TestApp, client: &Client, token: &str, id_token: &str) {
    check_logout_token_from(app, &app.issuer("contoso"), client, token, id_token).await;
}

/// As [`check_logout_token`], for a token issued by `issuer` (a node that has since stopped)
/// checked against `app`'s JWKS.
async fn check_logout_token_from(
    app: &TestApp,
    issuer: &str,
    client: &Client,
    token: &str,
    id_token: &str,
) {
    let (header, _) = jwt_parts(token);
    assert_eq!(header["typ"], "logout+jwt");
    let claims = verify_with_jwks(app, "contoso", token).await;
    let (_, id_claims) = jwt_parts(id_token);
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["aud"], client.client_id.as_str());
    let now = unix_now();
    let iat = claims["iat"].as_i64().unwrap();
    assert!((now - 60..=now + 5).contains(&iat), "fresh iat");
    assert!(claims["exp"].as_i64().unwrap() > now);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(
        claims["events"],
        serde_json::json!({ "http://schemas.openid.net/event/backchannel-logout": {} })
    );
    assert!(claims.get("nonce").is_none(), "never a nonce");
    assert_eq!(claims["sub"], id_claims["sub"]);
    assert_eq!(claims["sid"], id_claims["sid"], "sid is the ID token's");
}

async fn setup(fail_first: usize, frontchannel: Option<&str>) -> (TestApp, Receiver, Client) {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let receiver = Receiver::start(fail_first).await;
    let client = logout_app(&app, &receiver, frontchannel).await;
    (app, receiver, client)
}

async fn refresh_status(app: &TestApp, client: &Client, refresh: &str) -> (StatusCode, Value) {
    let response = app
        .token(
            "contoso",
            client,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await;
    (response.status(), response.json().await.unwrap())
}

async fn prompt_none(app: &TestApp, client: &Client, browser: &Browser) -> String {
    let url = client.authorize_url(
        &app.issuer("contoso"),
        "openid",
        &Pkce::new(),
        &[("prompt", "none")],
    );
    location(&browser.get(&url).await).unwrap()
}

#[tokio::test]
async fn discovery_says_back_and_front_channel_logout_are_supported() {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    let discovery = app.discovery("contoso").await;
    for field in [
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
    ] {
        assert_eq!(discovery[field], true, "{field}");
    }
}

#[tokio::test]
async fn rp_initiated_logout_sends_a_valid_logout_token_at_once() {
    let (app, receiver, client) = setup(0, None).await;
    let browser = app.browser();
    let tokens = sign_in(&app, &client, &browser).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let (_, id_claims) = jwt_parts(id_token);
    assert!(id_claims["sid"].as_str().is_some(), "the ID token has sid");
    let logout = format!(
        "{}/oauth2/logout?{}",
        app.issuer("contoso"),
        encode(&[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", LOGGED_OUT),
            ("state", "s1"),
        ])
    );
    let response = browser.get(&logout).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "no front channel: as before"
    );
    assert_eq!(
        location(&response).unwrap(),
        format!("{LOGGED_OUT}?state=s1")
    );
    let received = receiver.tokens(1, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 1, "one notification");
    check_logout_token(&app, &client, &received[0], id_token).await;
    assert!(
        prompt_none(&app, &client, &browser)
            .await
            .contains("error=login_required")
    );
    // Signing out again notifies nobody twice.
    browser.get(&logout).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.tokens(2, Duration::ZERO).await.len(), 1);
}

#[tokio::test]
async fn every_session_of_a_user_ending_kills_refresh_tokens_and_notifies_each_session() {
    let (app, receiver, client) = setup(0, None).await;
    let (first, second) = (app.browser(), app.browser());
    let one = sign_in(&app, &client, &first).await;
    let two = sign_in(&app, &client, &second).await;
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
    // What revokeSignInSessions and disable call (the caller changes the stamp first).
    gatehouse::services::logout::user_sessions_ended(&app.state, &user.tenant_id, &user.id)
        .await
        .unwrap();
    for (browser, tokens) in [(&first, &one), (&second, &two)] {
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let (status, body) = refresh_status(&app, &client, refresh).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_grant");
        assert!(
            prompt_none(&app, &client, browser)
                .await
                .contains("error=login_required")
        );
    }
    let received = receiver.tokens(2, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 2, "one per session");
    let mut sids: Vec<String> = Vec::new();
    for token in &received {
        let (_, claims) = jwt_parts(token);
        sids.push(claims["sid"].as_str().unwrap().to_owned());
    }
    sids.sort();
    let mut expected: Vec<String> = [&one, &two]
        .iter()
        .map(|t| {
            jwt_parts(t["id_token"].as_str().unwrap()).1["sid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    expected.sort();
    assert_eq!(sids, expected);
    let matching = received
        .iter()
        .find(|t| jwt_parts(t).1["sid"] == jwt_parts(one["id_token"].as_str().unwrap()).1["sid"])
        .unwrap();
    check_logout_token(&app, &client, matching, one["id_token"].as_str().unwrap()).await;
    // Idempotent: again, nothing more is sent.
    gatehouse::services::logout::user_sessions_ended(&app.state, &user.tenant_id, &user.id)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.tokens(3, Duration::ZERO).await.len(), 2);
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_everywhere_and_the_app_is_told() {
    let (app, receiver, client) = setup(0, None).await;
    let browser = app.browser();
    let tokens = sign_in(&app, &client, &browser).await;
    let tenant = app
        .state
        .directory
        .tenant("contoso")
        .await
        .unwrap()
        .unwrap();
    let user = app
        .state
        .store
        .user_by_email(&tenant.id, EMAIL)
        .await
        .unwrap();
    // Disabling: the account flag and a new stamp, then every session ends.
    app.state
        .store
        .update_user_security(&gatehouse::store::SecurityChange {
            tenant_id: &tenant.id,
            user_id: &user.id,
            enabled: Some(false),
            password_hash: None,
            stamp: "disabled-stamp",
            now: unix_now(),
        })
        .await
        .unwrap();
    gatehouse::services::logout::user_sessions_ended(&app.state, &tenant.id, &user.id)
        .await
        .unwrap();
    let (status, body) =
        refresh_status(&app, &client, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert!(
        prompt_none(&app, &client, &browser)
            .await
            .contains("error=login_required")
    );
    let received = receiver.tokens(1, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 1);
    check_logout_token(
        &app,
        &client,
        &received[0],
        tokens["id_token"].as_str().unwrap(),
    )
    .await;
}

#[tokio::test]
async fn a_failed_delivery_is_retried_until_the_app_answers() {
    let (app, receiver, client) = setup(1, None).await;
    let browser = app.browser();
    let tokens = sign_in(&app, &client, &browser).await;
    let tenant = app
        .state
        .directory
        .tenant("contoso")
        .await
        .unwrap()
        .unwrap();
    let user = app
        .state
        .store
        .user_by_email(&tenant.id, EMAIL)
        .await
        .unwrap();
    gatehouse::services::logout::user_sessions_ended(&app.state, &tenant.id, &user.id)
        .await
        .unwrap();
    let received = receiver.tokens(1, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 1, "delivered after the 500");
    assert_eq!(receiver.seen.hits.load(Ordering::SeqCst), 2, "one retry");
    check_logout_token(
        &app,
        &client,
        &received[0],
        tokens["id_token"].as_str().unwrap(),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while app.state.store.pending_logouts().await.unwrap() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the outbox empties");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_outbox_survives_a_restart() {
    let (app, receiver, client) = setup(2, None).await;
    let browser = app.browser();
    let tokens = sign_in(&app, &client, &browser).await;
    let tenant = app
        .state
        .directory
        .tenant("contoso")
        .await
        .unwrap()
        .unwrap();
    let user = app
        .state
        .store
        .user_by_email(&tenant.id, EMAIL)
        .await
        .unwrap();
    gatehouse::services::logout::user_sessions_ended(&app.state, &tenant.id, &user.id)
        .await
        .unwrap();
    // The first attempt fails; the node stops before the app answers.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while receiver.seen.hits.load(Ordering::SeqCst) < 1 {
        assert!(tokio::time::Instant::now() < deadline, "a first attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the node record the failure (a node stopped mid-attempt leaves its claim to the
    // lease, which would only make this test slower).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let backing = app.backing();
    let issuer = app.issuer("contoso");
    app.shutdown().await;
    assert!(receiver.tokens(1, Duration::ZERO).await.is_empty());
    let again = TestApp::spawn_on(backing, |_| {}).await;
    assert!(
        again.state.store.pending_logouts().await.unwrap() >= 1,
        "still queued"
    );
    let received = receiver.tokens(1, Duration::from_secs(15)).await;
    assert_eq!(received.len(), 1, "delivered by the restarted node");
    let id_token = tokens["id_token"].as_str().unwrap();
    check_logout_token_from(&again, &issuer, &client, &received[0], id_token).await;
}

#[tokio::test]
async fn the_signed_out_page_loads_front_channel_iframes_with_their_own_csp() {
    let frontchannel = "http://127.0.0.1:9/frontchannel?app=1";
    let (app, receiver, client) = setup(0, Some(frontchannel)).await;
    let browser = app.browser();
    let tokens = sign_in(&app, &client, &browser).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let sid = jwt_parts(id_token).1["sid"].as_str().unwrap().to_owned();
    let response = browser
        .get(&format!(
            "{}/oauth2/logout?{}",
            app.issuer("contoso"),
            encode(&[
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", LOGGED_OUT),
                ("state", "s2"),
            ])
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "the iframes first");
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-src http://127.0.0.1:9;"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = unescape(&response.text().await.unwrap());
    let expected = format!(
        "{frontchannel}&{}",
        encode(&[("iss", &app.issuer("contoso")), ("sid", &sid)])
    );
    assert!(
        html.contains(&format!("<iframe src=\"{expected}\"")),
        "{html}"
    );
    let next = format!("{LOGGED_OUT}?state=s2");
    // Then the post-logout redirect: a link, followed by the page's one script once the frames
    // have loaded — the CSP allows exactly that script, and no refresh timer is used.
    assert!(html.contains(&format!("href=\"{next}\"")), "{html}");
    assert!(html.contains(gatehouse::web::AFTER_FRAMES_SCRIPT), "{html}");
    assert!(!html.contains("http-equiv"), "{html}");
    let hash = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(gatehouse::web::AFTER_FRAMES_SCRIPT))
    };
    assert!(
        csp.contains(&format!("script-src 'sha256-{hash}';")),
        "{csp}"
    );
    assert_eq!(receiver.tokens(1, Duration::from_secs(5)).await.len(), 1);
    // Other pages allow no frames.
    let login = browser
        .get(&client.authorize_url(&app.issuer("contoso"), "openid", &Pkce::new(), &[]))
        .await;
    let page = browser.get(&location(&login).unwrap()).await;
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("frame-src"), "{csp}");
}

/// The text of HTML attribute values as a browser reads them (minijinja escapes `&`, `/`,
/// quotes and angle brackets).
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
