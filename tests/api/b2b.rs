//! The B2B test world: a node that mails through a real SMTP listener, a tenant with an
//! administrator, an inviting backend app, a web app guests sign in to, and the browser steps of
//! redemption and of the guest's e-mail-code sign-in.

use std::collections::HashMap;

use gatehouse::domain::tenant::Tenant;
use gatehouse::domain::user::User;
use gatehouse::services::admin::{AppInput, UserInput};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Browser, Client, Pkce, TestApp, jwt_parts, location, parse_form, query_param,
};
use crate::smtp::{Mail, SmtpSink};

/// The tenant's slug.
pub const SLUG: &str = "contoso";
/// Where the web app lives.
pub const APP_ORIGIN: &str = "https://app.contoso.example";
/// A registered redirect URI of the web app.
pub const CALLBACK: &str = "https://app.contoso.example/callback";
/// The administrator.
pub const ADMIN: &str = "admin@contoso.example";
/// The administrator's password.
pub const ADMIN_PASSWORD: &str = "admin's long password";

/// A node, its SMTP sink and the tenant's cast.
pub struct World {
    /// The node.
    pub app: TestApp,
    /// Where its mail goes.
    pub smtp: SmtpSink,
    /// The tenant.
    pub tenant: Tenant,
    /// A Global Administrator.
    pub admin: User,
    /// A backend app holding every admin-API permission (client credentials).
    pub backend: Client,
    /// The web app guests sign in to; it may also call the admin API for its users.
    pub web: Client,
}

impl World {
    /// A fresh world.
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    /// A fresh world; `tune` adjusts the node's configuration.
    pub async fn with(tune: impl FnOnce(&mut gatehouse::config::Config)) -> Self {
        let smtp = SmtpSink::start().await;
        let url = smtp.url.clone();
        let app = TestApp::spawn_with(|config| {
            config.mail.smtp_url = Some(url);
            config.mail.retry_after = 1;
            tune(config);
        })
        .await;
        let tenant = app.tenant(SLUG).await;
        let admin = gatehouse::services::admin::create_user(
            app.state.store.as_ref(),
            &app.state.passwords,
            UserInput {
                tenant: SLUG.into(),
                email: ADMIN.into(),
                name: "Ada Admin".into(),
                password: Some(ADMIN_PASSWORD.into()),
                roles: vec!["Global Administrator".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let every_permission: Vec<String> = gatehouse::domain::permission::ALL
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
        let (client_id, secret) = app
            .app(AppInput {
                tenant: SLUG.into(),
                name: "Partner onboarding".into(),
                grants: vec!["client_credentials".into()],
                permissions: every_permission.clone(),
                ..Default::default()
            })
            .await;
        let backend = Client {
            client_id,
            secret,
            redirect_uri: String::new(),
        };
        let (client_id, secret) = app
            .app(AppInput {
                tenant: SLUG.into(),
                name: "Partner Portal".into(),
                redirect_uris: vec![CALLBACK.into()],
                permissions: every_permission,
                home_url: Some(format!("{APP_ORIGIN}/")),
                ..Default::default()
            })
            .await;
        let web = Client {
            client_id,
            secret,
            redirect_uri: CALLBACK.into(),
        };
        Self {
            app,
            smtp,
            tenant,
            admin,
            backend,
            web,
        }
    }

    /// The tenant's issuer.
    pub fn issuer(&self) -> String {
        self.app.issuer(SLUG)
    }

    /// `{issuer}/v1.0/{path}`.
    pub fn api_url(&self, path: &str) -> String {
        format!("{}/v1.0/{path}", self.issuer())
    }

    /// A client-credentials token of `client`.
    pub async fn app_token(&self, client: &Client) -> String {
        let response = self
            .app
            .token(SLUG, client, &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// The backend app's token (every permission).
    pub async fn backend_token(&self) -> String {
        self.app_token(&self.backend).await
    }

    /// A delegated token of the web app for a signed-in user (password), with `scope`.
    pub async fn user_token(&self, email: &str, password: &str, scope: &str) -> String {
        let tokens = self
            .app
            .sign_in_and_redeem(SLUG, &self.web, email, password, scope)
            .await;
        tokens["access_token"].as_str().unwrap().to_owned()
    }

    /// Calls the admin API; returns the status and the JSON body (Null when there is none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.app.api().request(method, self.api_url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `POST /invitations`.
    pub async fn invite(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, "invitations", Some(token), Some(body))
            .await
    }

    /// Creates, through the admin API, an enabled policy requiring MFA of every guest on every
    /// app.
    pub async fn require_mfa_of_guests(&self, token: &str) {
        let (status, body) = self
            .call(
                Method::POST,
                "identity/conditionalAccess/policies",
                Some(token),
                Some(json!({
                    "displayName": "MFA for guests",
                    "state": "enabled",
                    "conditions": {
                        "users": {"includeUsers": ["GuestsOrExternalUsers"]},
                        "applications": {"includeApplications": ["All"]}
                    },
                    "grantControls": {"builtInControls": ["mfa"]}
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Invites `email` to the web app with an e-mail; returns the 201 body.
    pub async fn invite_to_app(&self, token: &str, email: &str) -> Value {
        let (status, body) = self
            .invite(
                token,
                json!({
                    "invitedUserEmailAddress": email,
                    "invitedUserDisplayName": "Grace Guest",
                    "inviteRedirectUrl": format!("{APP_ORIGIN}/welcome"),
                    "sendInvitationMessage": true,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

/// Whether a response is the redirect back to the client (rather than to another page).
pub fn is_callback(response: &Response) -> bool {
    response.status() == StatusCode::SEE_OTHER
        && location(response).is_some_and(|l| l.starts_with(CALLBACK))
}

/// Redeems the code in a callback redirect; returns the ID token claims.
pub async fn id_claims(world: &World, client: &Client, response: &Response, pkce: &Pkce) -> Value {
    assert!(
        is_callback(response),
        "expected the callback: {:?}",
        location(response)
    );
    let back = location(response).unwrap();
    let code = query_param(&back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    let tokens = world
        .app
        .token(
            SLUG,
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_eq!(tokens.status(), StatusCode::OK);
    let tokens: Value = tokens.json().await.unwrap();
    jwt_parts(tokens["id_token"].as_str().unwrap()).1
}

/// Follows a redirect within the node and returns the page it leads to.
pub async fn follow(browser: &Browser, response: Response) -> String {
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "expected a redirect, got {}",
        response.status()
    );
    let page = browser.get(&location(&response).unwrap()).await;
    assert_eq!(page.status(), StatusCode::OK);
    page.text().await.unwrap()
}

/// Submits the first form of `html` with `extra` fields.
pub async fn submit(browser: &Browser, html: &str, extra: &[(&str, &str)]) -> Response {
    let form = parse_form(html);
    let mut fields: HashMap<String, String> = form.fields;
    for (name, value) in extra {
        fields.insert((*name).to_owned(), (*value).to_owned());
    }
    browser.post_form(&form.action, &fields).await
}

/// Opens a redeem link; returns the landing page.
pub async fn open_invitation(browser: &Browser, link: &str) -> String {
    let response = browser.get(link).await;
    follow(browser, response).await
}

/// Opens the redeem link of an invitation mail; returns the landing page.
pub async fn invitation_landing(world: &World, browser: &Browser, mail: &Mail) -> String {
    open_invitation(
        browser,
        &mail.link(&format!("{}/redeem?i=", world.issuer())),
    )
    .await
}

/// Redeems from the landing page to the end: accept, the `nth` passcode mailed to `email`,
/// an optional password, consent. Returns the final response (303 to inviteRedirectUrl).
pub async fn redeem_from_landing(
    world: &World,
    browser: &Browser,
    landing: &str,
    email: &str,
    nth: usize,
    password: Option<&str>,
) -> Response {
    let code_page = follow(browser, submit(browser, landing, &[]).await).await;
    assert!(code_page.contains("name=\"code\""), "{code_page}");
    let code = world.smtp.wait_for(email, nth).await.code();
    let password_page = follow(
        browser,
        submit(browser, &code_page, &[("code", &code)]).await,
    )
    .await;
    assert!(
        password_page.contains("new-password"),
        "the optional password step: {password_page}"
    );
    let after_password = match password {
        Some(password) => submit(browser, &password_page, &[("password", password)]).await,
        None => submit(browser, &password_page, &[("action", "skip_password")]).await,
    };
    let consent = follow(browser, after_password).await;
    assert!(consent.contains("will receive"), "{consent}");
    submit(browser, &consent, &[("decision", "allow")]).await
}

/// The whole redemption of the link in `email`'s `nth_invite` invitation mail.
pub async fn redeem(world: &World, browser: &Browser, email: &str, nth_mail: usize) -> Response {
    let mail = world.smtp.wait_for(email, nth_mail).await;
    let link = mail.link(&format!("{}/redeem?i=", world.issuer()));
    let landing = open_invitation(browser, &link).await;
    redeem_from_landing(world, browser, &landing, email, nth_mail + 1, None).await
}

/// Signs `email` in to the web app with a mailed one-time code (the `nth` mail to it); returns
/// the token response.
pub async fn sign_in_with_code(world: &World, email: &str, nth: usize) -> Value {
    let browser = world.app.browser();
    let pkce = Pkce::new();
    let url = world.web.authorize_url(
        &world.issuer(),
        "openid profile email",
        &pkce,
        &[("nonce", "n-1")],
    );
    let (_, html) = browser.open_login(&url).await;
    let password_page = browser.submit_email(&html, email).await;
    let code_page = follow(
        &browser,
        submit(&browser, &password_page, &[("action", "send_code")]).await,
    )
    .await;
    assert!(code_page.contains("one-time-code"), "{code_page}");
    let code = world.smtp.wait_for(email, nth).await.code();
    let done = submit(&browser, &code_page, &[("code", &code)]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let back = location(&done).unwrap();
    let code = query_param(&back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    let response = world
        .app
        .token(
            SLUG,
            &world.web,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", &pkce.verifier),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}
