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

/// A Postgres connection that the server closed while it sat in the pool (a restart, a proxy's
/// idle cut) is found out before it is handed to a request: the pool pings each connection on
/// its way out and replaces one that is gone (`src/store/sql.rs`, where SQLite's pool, in
/// process, skips the ping), so the requests after the cut succeed.
#[tokio::test]
async fn postgres_connections_the_server_closed_while_idle_are_replaced_before_use() {
    const POOL: u32 = 12;
    let backing = std::sync::Arc::new(crate::helpers::Backing::new().await);
    if !backing.database_url().starts_with("postgres") {
        eprintln!("skipped: needs GATEHOUSE_TEST_DATABASE_URL (Postgres)");
        return;
    }
    let app = TestApp::spawn_on(backing.clone(), |c| c.database_max_connections = POOL).await;
    app.tenant("contoso").await;
    let ready = || async {
        let response = app
            .api()
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json::<serde_json::Value>().await.unwrap())
    };
    // One connection of its own (a pool might open a second one that the test would close).
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(backing.database_url())
        .await
        .unwrap();
    // Requests at once until the node holds most of its pool's connections: the node's own
    // background work (configuration polls, key refreshes) then cannot come upon every closed
    // one before the requests below do.
    let mut pids: Vec<i32> = Vec::new();
    for _ in 0..20 {
        let answers = futures::future::join_all((0..2 * POOL).map(|_| ready())).await;
        assert!(answers.iter().all(|(status, _)| *status == StatusCode::OK));
        pids = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND backend_type = 'client backend'",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        if pids.len() >= POOL as usize - 2 {
            break;
        }
    }
    assert!(pids.len() >= POOL as usize - 2, "the node holds {pids:?}");

    // The server closes every connection of the node, and their processes end.
    for pid in &pids {
        let closed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert!(closed, "backend {pid}");
    }
    let mut left = i64::MAX;
    for _ in 0..250 {
        left = sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = ANY($1)")
            .bind(&pids)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(left, 0, "closed backends still running");

    // Twice as many requests as the pool has connections, one after another: each takes the
    // idle connection that waited longest, so every closed one left is met.
    for attempt in 0..2 * POOL {
        let (status, body) = ready().await;
        assert_eq!(status, StatusCode::OK, "attempt {attempt}: {body}");
        assert_eq!(body["database"], "up", "attempt {attempt}");
    }
    // Writes too.
    app.tenant("fabrikam").await;
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

/// Starts `gatehouse serve` in `dir` on a free port with `env`; returns the child, its port
/// and its stderr lines once it listens.
/// A `gatehouse serve` child process, killed when dropped (also when a test panics).
pub(crate) struct Server(std::process::Child);

impl std::ops::Deref for Server {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already gone when the test stopped it itself.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn spawn_server(
    dir: &tempfile::TempDir,
    env: &[(&str, &str)],
) -> (
    Server,
    u16,
    std::io::Lines<std::io::BufReader<std::process::ChildStderr>>,
) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Server(
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .current_dir(dir.path())
            .env_remove("GATEHOUSE_DATABASE_URL")
            .env_remove("GATEHOUSE_REDIS_URL")
            .env("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}"))
            .env("GATEHOUSE_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("GATEHOUSE_LOG", "info")
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("gatehouse listening"));
    assert!(listening, "the server starts with its defaults");
    (child, port, lines)
}

#[tokio::test]
async fn sigterm_turns_readiness_off_keeps_serving_through_the_drain_then_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, lines) = spawn_server(&dir, &[("GATEHOUSE_SERVER__DRAIN_SECONDS", "2")]);
    assert!(dir.path().join("data/gatehouse.db").exists());
    assert!(dir.path().join("keys/master.key").exists());
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let signalled = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Not ready at once, but still serving while a load balancer notices.
    let mut saw_not_ready = false;
    while signalled.elapsed() < std::time::Duration::from_millis(1500) {
        let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
        if ready.status() == StatusCode::SERVICE_UNAVAILABLE {
            saw_not_ready = true;
            let body: serde_json::Value = ready.json().await.unwrap();
            assert_eq!(body["status"], "shutting_down");
        }
        let served = client.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(
            served.status(),
            StatusCode::OK,
            "still serving in the drain"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(saw_not_ready, "readiness turned false first");
    // After the drain the listener closes and the process exits cleanly.
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "exit status 0");
    assert!(signalled.elapsed() >= std::time::Duration::from_secs(2));
    assert!(client.get(format!("{base}/healthz")).send().await.is_err());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("not ready any more")),
        "{rest:?}"
    );
}

#[tokio::test]
async fn slow_clients_are_cut_and_connections_over_the_caps_closed_while_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, _lines) = spawn_server(
        &dir,
        &[
            ("GATEHOUSE_SERVER__HEADER_TIMEOUT", "1"),
            ("GATEHOUSE_SERVER__MAX_CONNECTIONS", "40"),
            ("GATEHOUSE_SERVER__MAX_CONNECTIONS_PER_ADDRESS", "30"),
            ("GATEHOUSE_SERVER__DRAIN_SECONDS", "0"),
        ],
    );
    let address = format!("127.0.0.1:{port}");
    // 30 clients that never finish their headers: the address's cap.
    let mut slow = Vec::new();
    for _ in 0..30 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // A 31st from the same address is closed at once.
    let mut over = tokio::net::TcpStream::connect(&address).await.unwrap();
    let _ = over
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        over.read_to_end(&mut buffer),
    )
    .await
    .expect("closed, not left hanging");
    assert!(
        read.is_err() || buffer.is_empty(),
        "over the cap: closed without an answer"
    );
    // The slow ones are cut after the header timeout; then the address is served again.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let mut cut = 0;
    for stream in &mut slow {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(
            std::time::Duration::from_millis(200),
            stream.read(&mut byte),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => cut += 1,
            Ok(Ok(_)) => cut += 1, // an error answer then close also counts as cut
            Err(_) => {}
        }
    }
    assert_eq!(cut, 30, "every slow client was cut");
    let served = reqwest::get(format!("http://{address}/healthz"))
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn connections_that_never_send_a_byte_are_closed_after_the_header_timeout() {
    // Found by conformance/faults (slow-clients drill): hyper-util's protocol sniffing waits
    // for the first bytes before hyper's header timer runs, so a silent connection held its
    // slot for ever, and a few addresses could fill the connection cap.
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, _lines) = spawn_server(
        &dir,
        &[
            ("GATEHOUSE_SERVER__HEADER_TIMEOUT", "1"),
            ("GATEHOUSE_SERVER__MAX_CONNECTIONS_PER_ADDRESS", "5"),
            ("GATEHOUSE_SERVER__DRAIN_SECONDS", "0"),
        ],
    );
    let address = format!("127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    for stream in &mut silent {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(std::time::Duration::from_secs(4), stream.read(&mut byte))
            .await
            .expect("a silent connection is closed, not left open");
        assert!(matches!(read, Ok(0) | Err(_)), "closed without an answer");
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    // Their slots are free again: the address is served.
    let served = reqwest::get(format!("http://{address}/healthz"))
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn a_trusted_proxy_has_no_per_address_cap() {
    // Behind a reverse proxy every client arrives from its address: capping it per address
    // would cap the whole site.
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, _lines) = spawn_server(
        &dir,
        &[
            ("GATEHOUSE_SERVER__MAX_CONNECTIONS_PER_ADDRESS", "2"),
            ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1"),
            ("GATEHOUSE_SERVER__DRAIN_SECONDS", "0"),
        ],
    );
    let clients: Vec<reqwest::Client> = (0..6).map(|_| reqwest::Client::new()).collect();
    // Six kept-alive connections at once, each answered.
    let answers = futures::future::join_all(
        clients
            .iter()
            .map(|c| c.get(format!("http://127.0.0.1:{port}/healthz")).send()),
    )
    .await;
    assert!(
        answers
            .into_iter()
            .all(|a| a.is_ok_and(|a| a.status() == StatusCode::OK))
    );
    let again = futures::future::join_all(
        clients
            .iter()
            .map(|c| c.get(format!("http://127.0.0.1:{port}/healthz")).send()),
    )
    .await;
    assert!(again.into_iter().all(|a| a.is_ok()), "still open");
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn an_internal_error_is_logged_without_a_backtrace_even_when_rust_backtrace_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .current_dir(dir.path())
        .env_remove("GATEHOUSE_DATABASE_URL")
        .args(["migrate"])
        .output()
        .unwrap();
    assert!(created.status.success());
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .current_dir(dir.path())
        .env_remove("GATEHOUSE_DATABASE_URL")
        .args(["tenant", "create", "--slug", "contoso", "--name", "Contoso"])
        .output()
        .unwrap();
    assert!(created.status.success());
    // Stored data a node cannot read back: an internal error on the next request.
    let url = format!(
        "sqlite://{}",
        dir.path().join("data/gatehouse.db").display()
    );
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE tenants SET settings = 'not json'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (mut child, port, lines) = spawn_server(&dir, &[("RUST_BACKTRACE", "1")]);
    let response = reqwest::get(format!(
        "http://127.0.0.1:{port}/contoso/.well-known/openid-configuration"
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    child.kill().unwrap();
    let _ = child.wait();
    let log: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(log.iter().any(|l| l.contains("internal error")), "{log:?}");
    // Logged once: not again by the HTTP trace layer (conformance/faults saw every 5xx twice).
    assert_eq!(
        log.iter().filter(|l| l.contains("ERROR")).count(),
        1,
        "one ERROR line for one internal error: {log:?}"
    );
    assert!(
        !log.iter().any(|l| l.contains("Stack backtrace")
            || l.contains("stack backtrace")
            || l.contains("rust_begin_unwind")
            || l.contains("backtrace::")),
        "no backtrace in the log: {log:?}"
    );
}

#[tokio::test]
async fn nul_bytes_are_refused_at_the_edge_in_each_front_doors_format() {
    let world = crate::b2b::World::new().await;
    let token = world.backend_token().await;
    let issuer = world.issuer();
    let api = world.app.api();
    // OAuth endpoints: RFC 6749 JSON.
    let response = api
        .post(format!("{issuer}/oauth2/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=a%00b&client_secret=x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    // The admin API: Graph JSON, 404 for an id in the path, 400 for a body.
    let (status, body) = world
        .call(reqwest::Method::GET, "users/a%00b", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["code"].is_string());
    let (status, body) = world
        .invite(
            &token,
            serde_json::json!({
                "invitedUserEmailAddress": "nul@fabrikam.example",
                "inviteRedirectUrl": "https://app.contoso.example/",
                "invitedUserDisplayName": "a\u{0}b",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    // Pages: an HTML page, never a 500.
    let browser = world.app.browser();
    for (url, status) in [
        (
            format!("{issuer}/oauth2/authorize?client_id=a%00b&response_type=code"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("{}/con%00toso/login?tx=x", world.app.base),
            StatusCode::NOT_FOUND,
        ),
        (format!("{issuer}/saml/launch/a%00b"), StatusCode::NOT_FOUND),
    ] {
        let response = browser.get(&url).await;
        assert_eq!(response.status(), status, "{url}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{url}"
        );
    }
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_and_move_with_what_happens() {
    // (conformance/faults parses the same text with Prometheus' own Python client parser.)
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(|c| {
        c.metrics_listen = Some(format!("127.0.0.1:{metrics_port}").parse().unwrap())
    })
    .await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let client = app.web_app("contoso", "https://rp.example/cb").await;
    let scrape = || async {
        for _ in 0..50 {
            if let Ok(response) =
                reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics")).await
            {
                assert!(
                    response.headers()["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("text/plain; version=0.0.4")
                );
                return response.text().await.unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no metrics listener");
    };
    // The sum of a metric's samples whose line contains every one of `labels`.
    let value = |text: &str, name: &str, labels: &[&str]| -> f64 {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .filter(|l| labels.iter().all(|label| l.contains(label)))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    };
    let before = scrape().await;
    let sign_ins_before = value(&before, "gatehouse_sign_ins_total", &[r#"protocol="oidc""#]);
    let logins_before = value(
        &before,
        "gatehouse_http_requests_total",
        &[r#"route="/{tenant}/login""#],
    );
    app.browser()
        .sign_in(
            &client.authorize_url(&app.issuer("contoso"), "openid", &Pkce::new(), &[]),
            EMAIL,
            PASSWORD,
        )
        .await;
    let after = scrape().await;
    assert!(value(&after, "gatehouse_sign_ins_total", &[r#"protocol="oidc""#]) > sign_ins_before);
    assert!(
        value(
            &after,
            "gatehouse_http_requests_total",
            &[r#"route="/{tenant}/login""#]
        ) >= logins_before + 2.0,
        "requests are counted by route template"
    );
    assert!(after.contains("# TYPE gatehouse_http_request_duration_seconds histogram"));
    assert!(after.contains("gatehouse_http_request_duration_seconds_bucket{"));
    assert_eq!(value(&after, "gatehouse_db_up", &[]), 1.0);
    assert_eq!(value(&after, "gatehouse_ephemeral_up", &[]), 1.0);
    assert!(
        after.contains("gatehouse_signing_key_age_seconds{") && after.contains(r#"state="active""#)
    );
    for family in [
        "gatehouse_config_generation",
        "gatehouse_mail_queue_depth",
        "gatehouse_db_pool_connections",
        "gatehouse_ready",
    ] {
        assert!(
            after.contains(&format!("# TYPE {family} gauge")),
            "{family}"
        );
    }
    // Never on the public listener.
    let public = app
        .api()
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
}
