//! Browser-facing hardening and operations: security headers, login CSRF, session fixation,
//! enumeration, throttling, secrets kept out of logs, health and shutdown (SECURITY.md A.11,
//! A.12, I.70, J.76–J.81, R8).

use reqwest::StatusCode;

use crate::helpers::{LOGS, Pkce, TestApp, location, parse_form, query_param};

const REDIRECT: &str = "https://rp.example/cb";
const EMAIL: &str = "alice@contoso.example";
const PASSWORD: &str = "correct horse battery";

async fn setup() -> (TestApp, crate::helpers::Client) {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let client = app.web_app("contoso", REDIRECT).await;
    (app, client)
}

#[tokio::test]
async fn health_and_readiness() {
    let (app, _) = setup().await;
    let health = app
        .api()
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready: serde_json::Value = app
        .api()
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], "up");
    assert_eq!(ready["ephemeral"], "up");
    app.shutdown().await;
}

#[tokio::test]
async fn pages_carry_anti_framing_no_referrer_and_no_store_and_every_response_hsts() {
    let (app, client) = setup().await;
    let browser = app.browser();
    let url = client.authorize_url(&app.issuer("contoso"), "openid", &Pkce::new(), &[]);
    let redirect = browser.get(&url).await;
    assert!(redirect.headers().contains_key("strict-transport-security"));
    let page = browser.get(&location(&redirect).unwrap()).await;
    let headers = page.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.contains_key("strict-transport-security"));
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no third-party assets"
    );
    let discovery = app
        .api()
        .get(format!(
            "{}/contoso/.well-known/openid-configuration",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert!(
        discovery
            .headers()
            .contains_key("strict-transport-security")
    );
}

#[tokio::test]
async fn a_login_post_without_its_csrf_token_or_from_another_site_is_refused() {
    let (app, client) = setup().await;
    let browser = app.browser();
    let url = client.authorize_url(&app.issuer("contoso"), "openid", &Pkce::new(), &[]);
    let (_, html) = browser.open_login(&url).await;
    let form = parse_form(&html);
    let mut fields = form.fields.clone();
    fields.insert("email".into(), EMAIL.into());
    fields.insert("csrf".into(), "forged".into());
    assert_eq!(
        browser.post_form(&form.action, &fields).await.status(),
        StatusCode::FORBIDDEN
    );
    let fields: Vec<(&str, String)> = form
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let cross_site = browser
        .post_cross_site(&form.action, "https://evil.example", &fields)
        .await;
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    // Another browser (no binding cookie) cannot continue this transaction.
    let other = app.browser();
    let stolen = other.post_form(&form.action, &form.fields).await;
    assert_eq!(stolen.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn signing_in_issues_a_fresh_session_cookie_and_the_old_one_stops_working() {
    let (app, client) = setup().await;
    let issuer = app.issuer("contoso");
    let browser = app.browser();
    let url = client.authorize_url(&issuer, "openid", &Pkce::new(), &[]);
    let (_, html) = browser.open_login(&url).await;
    let html = browser.submit_email(&html, EMAIL).await;
    let response = browser.submit_password(&html, PASSWORD).await;
    let first = browser
        .cookie(response.headers(), "gh_session")
        .expect("a session cookie");
    let cookie_line = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("gh_session="))
        .unwrap()
        .to_owned();
    assert!(
        cookie_line.contains("HttpOnly")
            && cookie_line.contains("SameSite=Lax")
            && cookie_line.contains("Path=/")
    );
    assert!(
        !location(&response).unwrap().contains(&first),
        "no session id in URLs"
    );

    // Sign in again (prompt=login) in the same browser: a new cookie value.
    let url = client.authorize_url(&issuer, "openid", &Pkce::new(), &[("prompt", "login")]);
    let (_, html) = browser.open_login(&url).await;
    let html = browser.submit_email(&html, EMAIL).await;
    let response = browser.submit_password(&html, PASSWORD).await;
    let second = browser.cookie(response.headers(), "gh_session").unwrap();
    assert_ne!(first, second);

    // A browser holding the old value is not signed in.
    let attacker = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let silent = client.authorize_url(&issuer, "openid", &Pkce::new(), &[("prompt", "none")]);
    let answer = attacker
        .get(&silent)
        .header("cookie", format!("gh_session={first}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_param(&location(&answer).unwrap(), "error").as_deref(),
        Some("login_required")
    );
    let answer = attacker
        .get(&silent)
        .header("cookie", format!("gh_session={second}"))
        .send()
        .await
        .unwrap();
    assert!(query_param(&location(&answer).unwrap(), "code").is_some());
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_get_the_same_answer_and_failures_slow_down() {
    let (app, client) = setup().await;
    let url = client.authorize_url(&app.issuer("contoso"), "openid", &Pkce::new(), &[]);
    let mut answers = Vec::new();
    for (email, password) in [
        (EMAIL, "wrong password!"),
        ("nobody@contoso.example", "wrong password!"),
    ] {
        let browser = app.browser();
        let (_, html) = browser.open_login(&url).await;
        let html = browser.submit_email(&html, email).await;
        let response = browser.submit_password(&html, password).await;
        let (status, body) = browser.refused_page(response).await;
        let message = body
            .split("role=\"alert\">")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_owned();
        answers.push((status, message));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, StatusCode::OK);

    // After the free failures the account is locked for a growing delay, even for the
    // right password, and the answer is the same for accounts that do not exist.
    let browser = app.browser();
    let (_, html) = browser.open_login(&url).await;
    let html = browser.submit_email(&html, EMAIL).await;
    for _ in 0..3 {
        browser.submit_password(&html, "wrong password!").await;
    }
    let locked = browser.submit_password(&html, PASSWORD).await;
    let (status, page) = browser.refused_page(locked).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("Too many failed sign-ins"), "{page}");
}

#[tokio::test]
async fn logs_never_contain_passwords_codes_tokens_or_secrets() {
    let (app, client) = setup().await;
    let pkce = Pkce::new();
    let url = client.authorize_url(&app.issuer("contoso"), "openid offline_access", &pkce, &[]);
    let back = app.browser().sign_in(&url, EMAIL, PASSWORD).await;
    let code = query_param(&back, "code").unwrap();
    let tokens: serde_json::Value = app
        .token(
            "contoso",
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    // A failed secret and a replayed code are logged as events; their values must not be.
    let mut wrong = client.clone();
    wrong.secret = Some("the-wrong-secret-value".into());
    app.token("contoso", &wrong, &[("grant_type", "client_credentials")])
        .await;
    app.token(
        "contoso",
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    let logs = String::from_utf8(LOGS.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("wrong client secret"),
        "the events are logged"
    );
    for secret in [
        PASSWORD,
        &code,
        &pkce.verifier,
        client.secret.as_deref().unwrap(),
        "the-wrong-secret-value",
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
        tokens["id_token"].as_str().unwrap(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}

#[tokio::test]
async fn sixteen_concurrent_sign_ins_on_sqlite_never_surface_a_busy_database() {
    let (app, client) = setup().await;
    let flows = (0..16).map(|_| {
        app.sign_in_and_redeem("contoso", &client, EMAIL, PASSWORD, "openid offline_access")
    });
    let results = futures::future::join_all(flows).await;
    assert!(
        results
            .iter()
            .all(|tokens| tokens["refresh_token"].is_string())
    );
}

#[test]
fn sigterm_stops_the_server_cleanly_after_readiness_turns_false() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .current_dir(dir.path())
        .env_remove("GATEHOUSE_DATABASE_URL")
        .env_remove("GATEHOUSE_REDIS_URL")
        .env("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}"))
        .env("GATEHOUSE_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("GATEHOUSE_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("gatehouse listening"));
    assert!(listening, "the server starts with its defaults");
    assert!(dir.path().join("data/gatehouse.db").exists());
    assert!(dir.path().join("keys/master.key").exists());
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("draining")), "{rest:?}");
    assert!(child.wait().unwrap().success(), "exit status 0");
}
