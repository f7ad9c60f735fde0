//! Test harness: a real Gatehouse node on a loopback port per test, over a fresh SQLite file
//! (default) or a fresh Postgres database (`GATEHOUSE_TEST_DATABASE_URL`), with the in-memory
//! ephemeral store (default) or Redis under a unique prefix (`GATEHOUSE_TEST_REDIS_URL`).
//! Browsers are reqwest clients with their own cookie jar that never follow redirects.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, LazyLock, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse::config::Config;
use gatehouse::domain::tenant::Tenant;
use gatehouse::domain::user::User;
use gatehouse::services::AppState;
use gatehouse::services::admin::{self, AppInput, TenantInput, UserInput};
use gatehouse::startup::Application;
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

/// Every log line any test node wrote, so a test can prove secrets never reach the logs.
pub static LOGS: LazyLock<Arc<Mutex<Vec<u8>>>> = LazyLock::new(|| {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let writer = LogWriter(buffer.clone());
    let _ = tracing_subscriber::fmt()
        .with_env_filter("debug,sqlx=warn,hyper=warn,h2=warn,reqwest=warn")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init();
    buffer
});

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A Postgres database created for one test and dropped after it.
struct TestDatabase {
    admin_url: String,
    name: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                use sqlx::Executor;
                if let Ok(pool) = sqlx::PgPool::connect(&admin_url).await {
                    let _ = pool
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}

/// Storage shared by one or more nodes of a test.
pub struct Backing {
    database_url: String,
    redis_url: Option<String>,
    redis_prefix: String,
    master_key: String,
    dir: tempfile::TempDir,
    _database: Option<TestDatabase>,
}

impl Backing {
    /// Fresh storage: Postgres/Redis when the test environment names them, else SQLite/memory.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (database_url, database) = match std::env::var("GATEHOUSE_TEST_DATABASE_URL") {
            Ok(admin_url) => {
                use sqlx::Executor;
                let name = format!("gh_test_{}", uuid::Uuid::new_v4().simple());
                let pool = sqlx::PgPool::connect(&admin_url)
                    .await
                    .expect("test Postgres");
                pool.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .await
                    .unwrap();
                let mut url = url::Url::parse(&admin_url).unwrap();
                url.set_path(&name);
                (url.to_string(), Some(TestDatabase { admin_url, name }))
            }
            Err(_) => (
                format!("sqlite://{}", dir.path().join("gatehouse.db").display()),
                None,
            ),
        };
        Self {
            database_url,
            redis_url: std::env::var("GATEHOUSE_TEST_REDIS_URL").ok(),
            redis_prefix: format!("ghtest:{}:", uuid::Uuid::new_v4().simple()),
            master_key: URL_SAFE_NO_PAD.encode(rand_bytes()),
            dir,
            _database: database,
        }
    }

    /// The database URL (a SQLite file, or a fresh Postgres database).
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Whether this backing is shared infrastructure (Postgres + Redis) that several nodes
    /// can use at once.
    pub fn is_shared(&self) -> bool {
        self.database_url.starts_with("postgres") && self.redis_url.is_some()
    }

    /// Environment for running the `gatehouse` CLI against this storage.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("GATEHOUSE_DATABASE_URL", self.database_url.clone()),
            ("GATEHOUSE_MASTER_KEY", self.master_key.clone()),
            (
                "GATEHOUSE_DATA_DIR",
                self.dir.path().join("data").display().to_string(),
            ),
            (
                "GATEHOUSE_KEYS_DIR",
                self.dir.path().join("keys").display().to_string(),
            ),
            ("GATEHOUSE_LOG", "warn".to_owned()),
        ];
        if let Some(redis) = &self.redis_url {
            env.push(("GATEHOUSE_REDIS_URL", redis.clone()));
            env.push(("GATEHOUSE_REDIS_PREFIX", self.redis_prefix.clone()));
        }
        env
    }

    /// A configuration for a node on `port`.
    pub fn config(&self, port: u16) -> Config {
        let mut config = Config {
            listen: format!("127.0.0.1:{port}").parse().unwrap(),
            public_url: format!("http://127.0.0.1:{port}"),
            data_dir: self.dir.path().join("data"),
            keys_dir: self.dir.path().join("keys"),
            database_url: Some(self.database_url.clone()),
            database_max_connections: 5,
            redis_url: self.redis_url.clone(),
            redis_prefix: self.redis_prefix.clone(),
            master_key: Some(self.master_key.clone()),
            ..Config::default()
        };
        config.keys.refresh_interval = 1;
        // Tests stop nodes at once (the drain is for load balancers).
        config.server.drain_seconds = 0;
        // The partner IdPs of the federation tests are other tenants on this loopback node.
        config.federation.allow_private_networks = true;
        config
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes[..]);
    bytes
}

/// One running node.
pub struct TestApp {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    /// The node's services (for seeding through the same code the CLI uses).
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _backing: Option<Arc<Backing>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestApp {
    /// A node on fresh storage with the default configuration.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A node on fresh storage; `tune` adjusts the configuration.
    pub async fn spawn_with(tune: impl FnOnce(&mut Config)) -> Self {
        let backing = Arc::new(Backing::new().await);
        Self::spawn_on(backing, tune).await
    }

    /// A node on existing storage (several nodes of one cluster).
    pub async fn spawn_on(backing: Arc<Backing>, tune: impl FnOnce(&mut Config)) -> Self {
        LazyLock::force(&LOGS);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut config = backing.config(port);
        tune(&mut config);
        let app = Application::build_with_listener(config, listener)
            .await
            .expect("node starts");
        let state = app.state();
        // Tests see the ring a fresh node has a moment after it starts: next keys published.
        state.keys.next_keys_published().await;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://127.0.0.1:{port}"),
            state,
            stop: Some(stop),
            server: Some(server),
            _backing: Some(backing),
        }
    }

    /// The storage this node runs on.
    pub fn backing(&self) -> Arc<Backing> {
        self._backing.clone().expect("backing")
    }

    /// Stops the node and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    /// The issuer of a tenant slug.
    pub fn issuer(&self, slug: &str) -> String {
        format!("{}/{slug}", self.base)
    }

    /// Creates a tenant.
    pub async fn tenant(&self, slug: &str) -> Tenant {
        admin::create_tenant(
            self.state.store.as_ref(),
            TenantInput {
                slug: slug.into(),
                name: format!("{slug} Ltd"),
                domains: vec![format!("{slug}.example")],
            },
        )
        .await
        .unwrap()
    }

    /// Creates a member user with a password.
    pub async fn user(&self, tenant: &str, email: &str, password: &str) -> User {
        admin::create_user(
            self.state.store.as_ref(),
            &self.state.passwords,
            UserInput {
                tenant: tenant.into(),
                email: email.into(),
                name: "Alice Example".into(),
                given_name: Some("Alice".into()),
                family_name: Some("Example".into()),
                password: Some(password.into()),
                roles: vec![],
            },
        )
        .await
        .unwrap()
    }

    /// Creates an application; returns (client_id, secret).
    pub async fn app(&self, input: AppInput) -> (String, Option<String>) {
        let (app, secret) = admin::create_app(self.state.store.as_ref(), input)
            .await
            .unwrap();
        (app.client_id, secret)
    }

    /// A confidential web app with one redirect URI and the default grants.
    pub async fn web_app(&self, tenant: &str, redirect_uri: &str) -> Client {
        let (client_id, secret) = self
            .app(AppInput {
                tenant: tenant.into(),
                name: "Web".into(),
                redirect_uris: vec![redirect_uri.into()],
                post_logout_redirect_uris: vec![format!("{redirect_uri}/logged-out")],
                public: false,
                grants: vec![],
                signing_alg: None,
                saml: None,
                ..Default::default()
            })
            .await;
        Client {
            client_id,
            secret,
            redirect_uri: redirect_uri.into(),
        }
    }

    /// A confidential backend app allowed only client_credentials, signing with `alg`.
    pub async fn service_app(&self, tenant: &str, alg: &str) -> Client {
        let (client_id, secret) = self
            .app(AppInput {
                tenant: tenant.into(),
                name: "Backend".into(),
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                public: false,
                grants: vec!["client_credentials".into()],
                signing_alg: Some(alg.into()),
                saml: None,
                ..Default::default()
            })
            .await;
        Client {
            client_id,
            secret,
            redirect_uri: String::new(),
        }
    }

    /// The status of a userinfo call with `token` at `slug`.
    pub async fn userinfo_status(&self, slug: &str, token: &str) -> StatusCode {
        self.api()
            .get(format!("{}/oauth2/userinfo", self.issuer(slug)))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// A new browser (its own cookie jar).
    pub fn browser(&self) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        Browser {
            http: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar,
            base: self.base.clone(),
            page: std::sync::Mutex::new(None),
            accept_language: "en-US,en;q=0.9".to_owned(),
        }
    }

    /// A plain HTTP client without cookies, for API calls.
    pub fn api(&self) -> reqwest::Client {
        http_client(false)
    }

    /// Fetches the tenant's discovery document.
    pub async fn discovery(&self, slug: &str) -> Value {
        self.api()
            .get(format!(
                "{}/.well-known/openid-configuration",
                self.issuer(slug)
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// POSTs a form to the tenant's token endpoint with HTTP Basic client authentication.
    pub async fn token(&self, slug: &str, client: &Client, form: &[(&str, &str)]) -> Response {
        let mut request = self
            .api()
            .post(format!("{}/oauth2/token", self.issuer(slug)))
            .form(form);
        if let Some(secret) = &client.secret {
            request = request.basic_auth(&client.client_id, Some(secret));
        } else {
            let mut with_id = form.to_vec();
            with_id.push(("client_id", &client.client_id));
            request = self
                .api()
                .post(format!("{}/oauth2/token", self.issuer(slug)))
                .form(&with_id);
        }
        request.send().await.unwrap()
    }

    /// Runs the whole code flow for `email` and exchanges the code; returns the token response.
    pub async fn sign_in_and_redeem(
        &self,
        slug: &str,
        client: &Client,
        email: &str,
        password: &str,
        scope: &str,
    ) -> Value {
        let browser = self.browser();
        let pkce = Pkce::new();
        let url = client.authorize_url(&self.issuer(slug), scope, &pkce, &[("nonce", "n-1")]);
        let location = browser.sign_in(&url, email, password).await;
        let code = query_param(&location, "code").unwrap_or_else(|| panic!("a code in {location}"));
        let response = self
            .token(
                slug,
                client,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &client.redirect_uri),
                    ("code_verifier", &pkce.verifier),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

fn http_client(cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A registered client.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

impl Client {
    /// An authorization URL with PKCE S256, a state and `extra` parameters.
    pub fn authorize_url(
        &self,
        issuer: &str,
        scope: &str,
        pkce: &Pkce,
        extra: &[(&str, &str)],
    ) -> String {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", scope),
            ("state", "st-1"),
            ("code_challenge", pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        params.extend_from_slice(extra);
        format!("{issuer}/oauth2/authorize?{}", encode(&params))
    }
}

/// URL-encodes parameters.
pub fn encode(params: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// A PKCE verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// A parameter of a URL's query.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The `Location` header.
pub fn location(response: &Response) -> Option<String> {
    response
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// A browser with its own cookies that sends what Chromium sends: Fetch Metadata
/// (`Sec-Fetch-Site/Mode/Dest/User`) on every navigation, and on a form POST the `Origin` the
/// Fetch standard derives from the page's origin and its `Referrer-Policy` (`null` under
/// `no-referrer`, or for a cross-origin target under `same-origin`). It never sets a header a
/// browser would not: a page whose policy hid our origin would make its forms fail here too.
pub struct Browser {
    pub http: reqwest::Client,
    /// The cookie jar `http` uses.
    jar: Arc<reqwest::cookie::Jar>,
    pub base: String,
    /// The document the browser shows: its origin and the referrer policy it was served with.
    page: std::sync::Mutex<Option<Document>>,
    /// The browser's languages (`Accept-Language`).
    accept_language: String,
}

/// The page a browser shows, as far as its requests depend on it.
#[derive(Debug, Clone)]
struct Document {
    origin: String,
    referrer_policy: String,
}

/// `scheme://host:port` of an absolute URL.
fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// `Sec-Fetch-Site` of a request from a page at `initiator` (none: typed or bookmarked) to
/// `target` (both origins). Sites ignore the port: another port of the same host is
/// `same-site`.
fn fetch_site(initiator: Option<&str>, target: &str) -> &'static str {
    let Some(initiator) = initiator else {
        return "none";
    };
    if initiator == target {
        return "same-origin";
    }
    let host = |origin: &str| {
        url::Url::parse(origin)
            .ok()
            .map(|u| (u.scheme().to_owned(), u.host_str().unwrap_or("").to_owned()))
    };
    if host(initiator) == host(target) {
        "same-site"
    } else {
        "cross-site"
    }
}

/// The first form of a page: its action and its fields.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub fields: HashMap<String, String>,
}

/// Extracts the first `<form>` of our own pages (attributes always double-quoted).
pub fn parse_form(html: &str) -> Form {
    let start = html.find("<form").expect("a form on the page");
    let form_html = &html[start
        ..html[start..]
            .find("</form>")
            .map_or(html.len(), |e| start + e)];
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let key = format!(" {name}=\"");
        let at = tag.find(&key)? + key.len();
        let end = tag[at..].find('"')? + at;
        Some(unescape(&tag[at..end]))
    };
    let form_tag = &form_html[..form_html.find('>').unwrap()];
    let action = attribute(form_tag, "action").unwrap_or_default();
    let mut fields = HashMap::new();
    for piece in form_html.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').unwrap_or(piece.len())];
        if let Some(name) = attribute(tag, "name") {
            let ty = attribute(tag, "type").unwrap_or_default();
            if ty == "hidden" || attribute(tag, "value").is_some() {
                fields.insert(name, attribute(tag, "value").unwrap_or_default());
            }
        }
    }
    Form { action, fields }
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}

impl Browser {
    /// The same browser set to prefer other languages (`Accept-Language`).
    pub fn speaking(mut self, accept_language: &str) -> Self {
        self.accept_language = accept_language.to_owned();
        self
    }

    /// GET an absolute or site-relative URL: a navigation from the page the browser shows (a
    /// link or a redirect followed), or a typed address when it shows none.
    pub async fn get(&self, url: &str) -> Response {
        let url = self.absolute(url);
        let initiator = self.page().map(|page| page.origin);
        let site = fetch_site(initiator.as_deref(), &origin_of(&url));
        let response = self
            .navigation(self.http.get(&url), site)
            .send()
            .await
            .unwrap();
        self.shown(&url, &response);
        response
    }

    /// POST a form of the page the browser shows (our own page when it shows none yet), with
    /// the `Origin` and Fetch Metadata a browser derives for it.
    pub async fn post_form(&self, url: &str, fields: &HashMap<String, String>) -> Response {
        let url = self.absolute(url);
        let target = origin_of(&url);
        self.post_form_to(&url, &target, fields).await
    }

    /// POST a form to a node behind a load balancer: the browser addresses the public origin
    /// `public` (its headers say so), the request reaches the node at `url`.
    pub async fn post_form_through(
        &self,
        public: &str,
        url: &str,
        fields: &HashMap<String, String>,
    ) -> Response {
        self.post_form_to(url, &origin_of(public), fields).await
    }

    async fn post_form_to(
        &self,
        url: &str,
        target: &str,
        fields: &HashMap<String, String>,
    ) -> Response {
        let url = url.to_owned();
        let target = target.to_owned();
        let page = self.page().unwrap_or_else(|| Document {
            origin: self.base.clone(),
            referrer_policy: "strict-origin-when-cross-origin".into(),
        });
        // Fetch §"serializing a request origin": the policy decides whether the page's origin
        // is revealed.
        let origin = match page.referrer_policy.as_str() {
            "no-referrer" => "null".to_owned(),
            "same-origin" if page.origin != target => "null".to_owned(),
            _ => page.origin.clone(),
        };
        let site = fetch_site(Some(&page.origin), &target);
        let response = self
            .navigation(self.http.post(&url), site)
            .header("origin", origin)
            .form(fields)
            .send()
            .await
            .unwrap();
        self.shown(&url, &response);
        response
    }

    /// A form POST from a page of another site (`from`, an origin) to `url`, as the browser
    /// sends it: `Origin: from`, `Sec-Fetch-Site: cross-site`, and none of our `SameSite=Lax`
    /// cookies.
    pub async fn post_cross_site(
        &self,
        url: &str,
        from: &str,
        fields: &[(&str, String)],
    ) -> Response {
        let url = self.absolute(url);
        let site = fetch_site(Some(from), &origin_of(&url));
        // A cookie-less client for the request: a cross-site POST carries no Lax cookies; the
        // cookies it sets are kept all the same.
        let response = self
            .navigation(http_client(false).post(&url), site)
            .header("origin", from)
            .form(fields)
            .send()
            .await
            .unwrap();
        use reqwest::cookie::CookieStore;
        let mut set = response.headers().get_all("set-cookie").iter();
        self.jar.set_cookies(&mut set, &url.parse().unwrap());
        self.shown(&url, &response);
        response
    }

    /// The Fetch Metadata of a top-level navigation.
    fn navigation(
        &self,
        request: reqwest::RequestBuilder,
        site: &'static str,
    ) -> reqwest::RequestBuilder {
        request
            .header("accept", "text/html,application/xhtml+xml")
            .header("accept-language", &self.accept_language)
            .header("sec-fetch-site", site)
            .header("sec-fetch-mode", "navigate")
            .header("sec-fetch-dest", "document")
            .header("sec-fetch-user", "?1")
    }

    fn page(&self) -> Option<Document> {
        self.page.lock().unwrap().clone()
    }

    /// Records the document a response shows (a redirect shows none: the browser follows it).
    fn shown(&self, url: &str, response: &Response) {
        if response.status().is_redirection() {
            return;
        }
        let referrer_policy = response
            .headers()
            .get("referrer-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("strict-origin-when-cross-origin")
            .to_owned();
        *self.page.lock().unwrap() = Some(Document {
            origin: origin_of(url),
            referrer_policy,
        });
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_owned()
        }
    }

    /// Follows an authorization request to the sign-in page; returns the page HTML.
    pub async fn open_login(&self, authorize_url: &str) -> (String, String) {
        let response = self.get(authorize_url).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "authorize should go to the sign-in page"
        );
        let login = location(&response).unwrap();
        let page = self.get(&login).await;
        assert_eq!(page.status(), StatusCode::OK);
        (login, page.text().await.unwrap())
    }

    /// Submits the e-mail step; returns the password page HTML.
    pub async fn submit_email(&self, html: &str, email: &str) -> String {
        let mut form = parse_form(html);
        form.fields.insert("email".into(), email.into());
        let response = self.post_form(&form.action, &form.fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let page = self.get(&location(&response).unwrap()).await;
        page.text().await.unwrap()
    }

    /// The page a refused form leads to: every form answers with a redirect to its page
    /// (Post/Redirect/Get), which shows what went wrong with the status it calls for. Returns
    /// (status, page).
    pub async fn refused_page(&self, response: Response) -> (StatusCode, String) {
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "a refused form answers with a redirect to its page"
        );
        let page = self.get(&location(&response).unwrap()).await;
        let status = page.status();
        (status, page.text().await.unwrap())
    }

    /// Submits the password step; returns the response (303 to the client on success).
    pub async fn submit_password(&self, html: &str, password: &str) -> Response {
        let mut form = parse_form(html);
        form.fields.insert("password".into(), password.into());
        self.post_form(&form.action, &form.fields).await
    }

    /// Signs in through the pages; returns the final redirect to the client.
    pub async fn sign_in(&self, authorize_url: &str, email: &str, password: &str) -> String {
        let (_, html) = self.open_login(authorize_url).await;
        let html = self.submit_email(&html, email).await;
        let response = self.submit_password(&html, password).await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "sign-in should redirect to the client"
        );
        location(&response).unwrap()
    }

    /// The value of a cookie this browser holds for the node.
    pub fn cookie(&self, headers: &HeaderMap, name: &str) -> Option<String> {
        headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| {
                v[name.len() + 1..]
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
    }
}

/// Decodes a JWT's header and claims without verifying (tests verify separately).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let decode =
        |p: &str| -> Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap() };
    let header = decode(parts.next().unwrap());
    let claims = decode(parts.next().unwrap());
    (header, claims)
}

/// Verifies a JWT against the tenant's JWKS with josekit, as a resource server would.
pub async fn verify_with_jwks(app: &TestApp, slug: &str, token: &str) -> Value {
    use josekit::jwk::JwkSet;
    use josekit::jws::{ES256, RS256};
    let jwks: Value = app
        .api()
        .get(format!("{}/oauth2/jwks", app.issuer(slug)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let set = JwkSet::from_bytes(serde_json::to_vec(&jwks).unwrap()).unwrap();
    let (header, _) = jwt_parts(token);
    let kid = header["kid"].as_str().unwrap();
    let jwk = set.get(kid).into_iter().next().expect("kid in JWKS");
    let (payload, _) = match header["alg"].as_str().unwrap() {
        "RS256" => {
            josekit::jwt::decode_with_verifier(token, &RS256.verifier_from_jwk(jwk).unwrap())
        }
        "ES256" => {
            josekit::jwt::decode_with_verifier(token, &ES256.verifier_from_jwk(jwk).unwrap())
        }
        other => panic!("unexpected alg {other}"),
    }
    .expect("signature verifies against the JWKS");
    Value::Object(payload.into())
}
