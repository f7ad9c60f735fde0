//! The pages as people get them, over HTTP with the headers a browser sends: every form
//! answers with a redirect (a reload never posts again), pages and error pages speak the
//! reader's language (`ui_locales`, the invitation's language remembered for the guest,
//! `Accept-Language`) and carry the tenant's name, logo and accent colour; the front page,
//! the icon and the documentation exist. (The real-browser proof of the same pages is
//! `conformance/browser/`.)

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::b2b::{APP_ORIGIN, SLUG, World, follow, open_invitation, submit};
use crate::helpers::{Pkce, TestApp, location, parse_form};

const EMAIL: &str = "pat@contoso.example";
const PASSWORD: &str = "pat's long enough password";

/// An attribute value as the browser reads it (templates escape `&` and `/`).
fn attribute(value: &str) -> String {
    value.replace("&#x2f;", "/").replace("&amp;", "&")
}

/// The text of the page's alert (`role="alert"`), if any.
fn alert(page: &str) -> Option<String> {
    let rest = page.split("role=\"alert\">").nth(1)?;
    Some(attribute(rest.split('<').next().unwrap_or("")).replace("&#x27;", "'"))
}

/// A `width`×`height` opaque PNG, encoded for real (zlib, CRC), as an upload would be.
fn png(width: u32, height: u32) -> Vec<u8> {
    use std::io::Write;
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
        out
    };
    let mut header = width.to_be_bytes().to_vec();
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut row = vec![0u8];
    row.extend([0x0b, 0x5c, 0xad].repeat(width as usize));
    let raw = row.repeat(height as usize);
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&raw).unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &header));
    png.extend(chunk(b"IDAT", &encoder.finish().unwrap()));
    png.extend(chunk(b"IEND", &[]));
    png
}

#[tokio::test]
async fn a_wrong_password_is_told_on_a_page_that_a_reload_does_not_post_again() {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let client = app.web_app("contoso", "https://rp.example/cb").await;
    let browser = app.browser();
    let url = client.authorize_url(&app.issuer("contoso"), "openid", &Pkce::new(), &[]);
    let (_, html) = browser.open_login(&url).await;
    let password_page = browser.submit_email(&html, EMAIL).await;
    // The password page pairs the account with the password for password managers.
    assert!(password_page.contains(r#"autocomplete="username""#));
    assert!(password_page.contains(r#"autocomplete="current-password""#));
    assert!(password_page.contains("autofocus"));
    let response = browser
        .submit_password(&password_page, "not the password")
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "Post/Redirect/Get"
    );
    let page_url = location(&response).unwrap();
    assert!(page_url.starts_with("/contoso/login?tx="), "{page_url}");
    let (status, page) = browser.refused_page(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        alert(&page).as_deref(),
        Some("The email address or password is incorrect.")
    );
    // A reload is a GET of the same page: no second attempt, and the notice was shown once.
    let reloaded = browser.get(&page_url).await;
    assert_eq!(reloaded.status(), StatusCode::OK);
    let reloaded = reloaded.text().await.unwrap();
    assert_eq!(alert(&reloaded), None);
    assert!(reloaded.contains(r#"name="step" value="password""#));
    let done = browser.submit_password(&reloaded, PASSWORD).await;
    assert!(
        location(&done)
            .unwrap()
            .starts_with("https://rp.example/cb"),
        "one wrong password, then the right one: signed in"
    );
}

#[tokio::test]
async fn pages_speak_ui_locales_else_the_browsers_language() {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let client = app.web_app("contoso", "https://rp.example/cb").await;
    let discovery = app.discovery("contoso").await;
    assert_eq!(discovery["ui_locales_supported"], json!(["en", "fr", "de"]));

    let issuer = app.issuer("contoso");
    let french = client.authorize_url(
        &issuer,
        "openid",
        &Pkce::new(),
        &[("ui_locales", "fr-CA en")],
    );
    let browser = app.browser().speaking("de-DE,de;q=0.9");
    let (_, page) = browser.open_login(&french).await;
    assert!(
        page.contains(r#"<html lang="fr">"#),
        "ui_locales first: {page}"
    );
    assert!(page.contains("Adresse e-mail"));
    let page = browser.submit_email(&page, EMAIL).await;
    assert!(page.contains("Mot de passe"));
    let response = browser.submit_password(&page, "wrong").await;
    let (_, page) = browser.refused_page(response).await;
    assert_eq!(
        alert(&page).as_deref(),
        Some("L'adresse e-mail ou le mot de passe est incorrect.")
    );

    let plain = client.authorize_url(&issuer, "openid", &Pkce::new(), &[]);
    let (_, page) = app
        .browser()
        .speaking("de-AT,de;q=0.9,en;q=0.5")
        .open_login(&plain)
        .await;
    assert!(page.contains(r#"<html lang="de">"#), "then Accept-Language");
    assert!(page.contains("E-Mail-Adresse"));
    let (_, page) = app
        .browser()
        .speaking("ja,zh;q=0.5")
        .open_login(&plain)
        .await;
    assert!(
        page.contains(r#"<html lang="en">"#),
        "English when nothing matches"
    );
    let response = app
        .browser()
        .speaking("fr")
        .get(&format!("{issuer}/login?tx=nope"))
        .await;
    assert_eq!(response.headers()["content-language"], "fr");
}

#[tokio::test]
async fn error_pages_carry_the_organisations_name_in_the_readers_language() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("contoso").await;
    let expired = app
        .browser()
        .speaking("fr-FR,fr;q=0.9")
        .get(&format!("{}/login?tx=gone", app.issuer("contoso")))
        .await;
    assert_eq!(expired.status(), StatusCode::BAD_REQUEST);
    assert!(
        expired.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = expired.text().await.unwrap();
    assert!(page.contains("Connexion expirée"), "{page}");
    assert!(
        page.contains(&format!(
            "<title>Connexion expirée · {}</title>",
            tenant.name
        )),
        "the tenant's name, not Gatehouse: {page}"
    );
    let unknown = app
        .browser()
        .get(&format!("{}/nobody/myapps", app.base))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let page = unknown.text().await.unwrap();
    assert!(page.contains("Unknown organisation") && page.contains("· Gatehouse</title>"));
    // A form from another port of the same host (same-site, not same-origin) is refused with
    // a page, in the organisation's name.
    let refused = app
        .browser()
        .post_cross_site(
            &format!("{}/login", app.issuer("contoso")),
            "http://127.0.0.1:1",
            &[("tx", "x".into())],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains(&format!("did not come from a page of {}", tenant.name)),
        "{page}"
    );
}

#[tokio::test]
async fn the_front_page_the_icon_and_the_documentation_are_there() {
    let app = TestApp::spawn().await;
    let front = app
        .browser()
        .speaking("de")
        .get(&format!("{}/", app.base))
        .await;
    assert_eq!(front.status(), StatusCode::OK);
    let page = front.text().await.unwrap();
    assert!(page.contains(r#"<html lang="de">"#) && page.contains("Identitätsanbieter"));
    let page = attribute(&page);
    assert!(page.contains(r#"href="/docs""#) && page.contains(r#"href="/readyz""#));
    let icon = app
        .api()
        .get(format!("{}/favicon.ico", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(icon.status(), StatusCode::OK);
    assert_eq!(icon.headers()["content-type"], "image/x-icon");
    assert_eq!(
        &icon.bytes().await.unwrap()[..4],
        &[0, 0, 1, 0],
        "an ICO file"
    );
    let docs = app
        .api()
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert!(docs.text().await.unwrap().starts_with("# Gatehouse"));
}

#[tokio::test]
async fn the_tenants_logo_and_accent_colour_are_on_every_page_and_mail() {
    let world = World::new().await;
    let token = world.backend_token().await;
    // The accent colour and a logo through the admin API (Graph's organizationalBranding).
    let (status, body) = world
        .call(
            Method::PATCH,
            "organization/branding",
            Some(&token),
            Some(json!({ "accentColor": "#0B5CAD" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accentColor"], "#0b5cad");
    let logo = png(120, 30);
    let upload = |bytes: Vec<u8>, content_type: &'static str| {
        let token = token.clone();
        let url = world.api_url("organization/branding/bannerLogo");
        let client = world.app.api();
        async move {
            let response = client
                .put(url)
                .bearer_auth(token)
                .header("content-type", content_type)
                .body(bytes)
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = upload(logo.clone(), "image/png").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["bannerLogo"]["width"], 120);
    // Only real PNG or JPEG images, within the limits, whatever the declared type says.
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec();
    let (status, body) = upload(svg, "image/png").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "Request_BadRequest");
    let (status, _) = upload(png(2000, 10), "image/png").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "too wide");
    let (status, _) = upload(logo.clone(), "text/plain").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Every page links the logo and the accent stylesheet, both served from here.
    let page = world
        .app
        .browser()
        .get(&format!("{}/login?tx=gone", world.issuer()))
        .await
        .text()
        .await
        .unwrap();
    let logo_url = page
        .split("<img src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(attribute)
        .expect("the logo on the page");
    assert!(page.contains(&format!("alt=\"{}\"", world.tenant.name)));
    let served = world
        .app
        .api()
        .get(format!("{}{logo_url}", world.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(served.headers()["content-type"], "image/png");
    assert!(
        served.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(served.bytes().await.unwrap().to_vec(), logo);
    let theme = page
        .split("<link rel=\"stylesheet\" href=\"")
        .nth(2)
        .and_then(|rest| rest.split('"').next())
        .map(attribute)
        .expect("the accent stylesheet");
    let css = world
        .app
        .api()
        .get(format!("{}{theme}", world.app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(css.contains("--accent: #0b5cad") && css.contains("--on-accent: #ffffff"));

    // And the invitation mail: the organisation's logo and colour, readable on a phone.
    world.invite_to_app(&token, "gwen@fabrikam.example").await;
    let mail = world.smtp.wait_for("gwen@fabrikam.example", 1).await;
    let html = mail.part("text/html");
    assert!(html.contains(r#"<meta name="viewport""#));
    assert!(html.contains("background:#0b5cad"));
    assert!(
        attribute(&html).contains(&format!("{}/{SLUG}/branding/logo?v=", world.app.base)),
        "{html}"
    );
    // Changes are audited.
    let (_, audits) = world
        .call(Method::GET, "auditLogs/directoryAudits", Some(&token), None)
        .await;
    assert!(
        audits["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["activityDisplayName"] == "Update organizational branding")
    );
    // Removing the logo takes it off the pages.
    let removed = world
        .app
        .api()
        .delete(world.api_url("organization/branding/bannerLogo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let page = world
        .app
        .browser()
        .get(&format!("{}/login?tx=gone", world.issuer()))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<img"));
}

#[tokio::test]
async fn the_invitations_language_is_the_guests_from_then_on() {
    let world = World::new().await;
    let token = world.backend_token().await;
    let guest = "lea@fabrikam.example";
    let (status, body) = world
        .invite(
            &token,
            json!({
                "invitedUserEmailAddress": guest,
                "inviteRedirectUrl": format!("{APP_ORIGIN}/"),
                "sendInvitationMessage": true,
                "invitedUserMessageInfo": { "messageLanguage": "fr-FR" },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mail = world.smtp.wait_for(guest, 1).await;
    assert_eq!(
        mail.header("Subject").unwrap(),
        format!(
            "{} vous a invité à accéder à ses applications",
            world.tenant.name
        )
    );
    // The redemption pages are French whatever the browser prefers.
    let browser = world.app.browser().speaking("en-GB,en;q=0.9");
    let landing = open_invitation(
        &browser,
        &mail.link(&format!("{}/redeem?i=", world.issuer())),
    )
    .await;
    assert!(landing.contains(r#"<html lang="fr">"#) && landing.contains("Vous êtes invité"));
    let code_page = follow(&browser, submit(&browser, &landing, &[]).await).await;
    assert!(code_page.contains("Consultez vos e-mails"));
    let code_mail = world.smtp.wait_for(guest, 2).await;
    assert!(
        code_mail
            .header("Subject")
            .unwrap()
            .starts_with("Votre code de vérification")
    );
    let password_page = follow(
        &browser,
        submit(&browser, &code_page, &[("code", &code_mail.code())]).await,
    )
    .await;
    let consent = follow(
        &browser,
        submit(&browser, &password_page, &[("action", "skip_password")]).await,
    )
    .await;
    assert!(consent.contains("Vérifiez les autorisations"));
    let done = submit(&browser, &consent, &[("decision", "allow")]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);

    // Later sign-ins without ui_locales: French once the guest is known, and the code comes
    // first (a passcode-only guest never sees a password page).
    let other = world.app.browser().speaking("en-GB,en;q=0.9");
    let url = world
        .web
        .authorize_url(&world.issuer(), "openid", &Pkce::new(), &[]);
    let (_, identify) = other.open_login(&url).await;
    assert!(identify.contains(r#"<html lang="en">"#), "not known yet");
    let code_page = other.submit_email(&identify, guest).await;
    assert!(code_page.contains(r#"<html lang="fr">"#), "{code_page}");
    assert!(!code_page.contains("current-password"), "no password page");
    let form = parse_form(&code_page);
    assert_eq!(form.fields["step"], "code");
    let sign_in_mail = world.smtp.wait_for(guest, 3).await;
    assert!(
        sign_in_mail
            .header("Subject")
            .unwrap()
            .starts_with("Votre code")
    );
}

#[tokio::test]
async fn my_apps_and_security_info_link_to_each_other_and_to_sign_out() {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let browser = app.browser();
    let response = browser
        .get(&format!("{}/myapps", app.issuer("contoso")))
        .await;
    let login = location(&response).unwrap();
    let page = browser.get(&login).await.text().await.unwrap();
    let page = browser.submit_email(&page, EMAIL).await;
    let back = browser.submit_password(&page, PASSWORD).await;
    let myapps = attribute(
        &browser
            .get(&location(&back).unwrap())
            .await
            .text()
            .await
            .unwrap(),
    );
    assert!(myapps.contains(r#"<nav class="account""#));
    assert!(myapps.contains(r#"href="/contoso/security-info""#));
    assert!(myapps.contains(r#"href="/contoso/oauth2/logout""#));
    let info = attribute(
        &browser
            .get(&format!("{}/security-info", app.issuer("contoso")))
            .await
            .text()
            .await
            .unwrap(),
    );
    assert!(info.contains(r#"href="/contoso/myapps""#));
    assert!(info.contains(r#"href="/contoso/oauth2/logout""#));
    let sign_out = browser
        .get(&format!("{}/oauth2/logout", app.issuer("contoso")))
        .await;
    assert_eq!(sign_out.status(), StatusCode::OK);
    assert!(
        sign_out
            .text()
            .await
            .unwrap()
            .contains("Do you want to sign out")
    );
}
