//! SAML single logout propagated to every SP of the session: one SP's LogoutRequest ends
//! the session, the IdP sends a signed LogoutRequest with the NameID and SessionIndex each
//! other SP received, reads its LogoutResponse, then answers the SP that asked; an
//! RP-initiated OIDC logout reaches the session's SAML SPs the same way.

use std::io::Write;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gatehouse::services::admin::{AppInput, SamlInput};
use reqwest::StatusCode;

use crate::helpers::{
    Browser, Pkce, TestApp, encode, jwt_parts, location, parse_form, query_param,
};

const EMAIL: &str = "alice@contoso.example";
const PASSWORD: &str = "correct horse battery";
const REDIRECT: &str = "https://rp.example/cb";

/// A test SP by its name: entity id, ACS and SLO endpoint on `https://{name}.example`.
struct Sp(&'static str);

impl Sp {
    fn entity(&self) -> String {
        format!("https://{}.example/metadata", self.0)
    }
    fn acs(&self) -> String {
        format!("https://{}.example/acs", self.0)
    }
    fn slo(&self) -> String {
        format!("https://{}.example/slo", self.0)
    }
}

async fn register(app: &TestApp, sp: &Sp) {
    app.app(AppInput {
        tenant: "contoso".into(),
        name: sp.0.into(),
        saml: Some(SamlInput {
            entity_id: Some(sp.entity()),
            acs_urls: vec![sp.acs()],
            slo_url: Some(sp.slo()),
            ..SamlInput::default()
        }),
        ..Default::default()
    })
    .await;
}

fn now() -> String {
    gatehouse::saml::response::instant(gatehouse::domain::unix_now())
}

fn deflate(xml: &str) -> String {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(xml.as_bytes()).unwrap();
    STANDARD.encode(encoder.finish().unwrap())
}

/// The SP's (unsigned: it registered no certificate) AuthnRequest by the Redirect binding.
fn sso_url(app: &TestApp, sp: &Sp, id: &str) -> String {
    let xml = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}" Destination="{}/saml/sso" AssertionConsumerServiceURL="{}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>{}</saml:Issuer></samlp:AuthnRequest>"#,
        now(),
        app.issuer("contoso"),
        sp.acs(),
        sp.entity()
    );
    format!(
        "{}/saml/sso?{}",
        app.issuer("contoso"),
        encode(&[("SAMLRequest", &deflate(&xml))])
    )
}

/// The NameID and SessionIndex of the assertion an auto-posting page carries.
async fn asserted(response: reqwest::Response, sp: &Sp) -> (String, String) {
    assert_eq!(response.status(), StatusCode::OK);
    let form = parse_form(&response.text().await.unwrap());
    assert_eq!(form.action, sp.acs());
    let xml = String::from_utf8(STANDARD.decode(&form.fields["SAMLResponse"]).unwrap()).unwrap();
    let response = samael::schema::Response::from_str(&xml).unwrap();
    let assertion = response.assertion.unwrap();
    let name_id = assertion.subject.unwrap().name_id.unwrap().value;
    let index = assertion.authn_statements.unwrap()[0]
        .session_index
        .clone()
        .unwrap();
    (name_id, index)
}

/// Signs the browser in at the first SP; later SPs are answered from the session.
async fn sso(app: &TestApp, browser: &Browser, sp: &Sp, first: bool) -> (String, String) {
    let response = browser.get(&sso_url(app, sp, &format!("_{}", sp.0))).await;
    if !first {
        return asserted(response, sp).await;
    }
    let page = browser
        .get(&location(&response).unwrap())
        .await
        .text()
        .await
        .unwrap();
    let html = browser.submit_email(&page, EMAIL).await;
    asserted(browser.submit_password(&html, PASSWORD).await, sp).await
}

async fn idp_certificates(app: &TestApp) -> Vec<String> {
    let xml = app
        .api()
        .get(format!("{}/saml/metadata", app.issuer("contoso")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let entity = samael::metadata::EntityDescriptor::from_str(&xml).unwrap();
    entity.idp_sso_descriptors.unwrap()[0]
        .key_descriptors
        .iter()
        .flat_map(|k| k.key_info.x509_data.as_ref().unwrap().certificates.clone())
        .collect()
}

/// Follows the IdP's redirect to `sp`'s SLO endpoint: checks its signature; the decoded
/// message XML and the RelayState.
async fn at_sp(
    app: &TestApp,
    response: reqwest::Response,
    sp: &Sp,
    param: &str,
) -> (String, Option<String>) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let url = location(&response).unwrap();
    assert!(url.starts_with(&format!("{}?{param}=", sp.slo())), "{url}");
    let raw_query = url.split_once('?').unwrap().1;
    gatehouse::saml::request::verify_redirect_signature(raw_query, &idp_certificates(app).await)
        .expect("signed by the IdP");
    let message = query_param(&url, param).unwrap();
    let xml = gatehouse::samlxml::xml::decode_redirect(&message).unwrap();
    (xml, query_param(&url, "RelayState"))
}

/// The SP's LogoutRequest (unsigned).
fn logout_request(app: &TestApp, sp: &Sp, id: &str, name_id: &str) -> String {
    let xml = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}" Destination="{}/saml/slo"><saml:Issuer>{}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{name_id}</saml:NameID></samlp:LogoutRequest>"#,
        now(),
        app.issuer("contoso"),
        sp.entity()
    );
    format!(
        "{}/saml/slo?{}",
        app.issuer("contoso"),
        encode(&[("SAMLRequest", &deflate(&xml)), ("RelayState", "from-sp1")])
    )
}

/// The SP's LogoutResponse to the IdP's request `in_response_to`.
fn logout_response(app: &TestApp, sp: &Sp, in_response_to: &str, relay: &str) -> String {
    let xml = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r{}" Version="2.0" IssueInstant="{}" Destination="{}/saml/slo" InResponseTo="{in_response_to}"><saml:Issuer>{}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#,
        sp.0,
        now(),
        app.issuer("contoso"),
        sp.entity()
    );
    format!(
        "{}/saml/slo?{}",
        app.issuer("contoso"),
        encode(&[("SAMLResponse", &deflate(&xml)), ("RelayState", relay)])
    )
}

/// Checks the IdP's LogoutRequest to `sp`; its ID.
fn check_request(app: &TestApp, xml: &str, sp: &Sp, (name_id, index): &(String, String)) -> String {
    let request = samael::schema::LogoutRequest::from_str(xml).unwrap();
    assert_eq!(
        request.issuer.unwrap().value.unwrap(),
        app.issuer("contoso")
    );
    assert_eq!(request.destination.unwrap(), sp.slo());
    assert_eq!(&request.name_id.unwrap().value, name_id);
    // samael reads SessionIndex as an attribute; the element is what the schema says.
    assert!(
        xml.contains(&format!("<samlp:SessionIndex>{index}</samlp:SessionIndex>")),
        "{xml}"
    );
    request.id.unwrap()
}

async fn setup() -> TestApp {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    register(&app, &Sp("sp1")).await;
    register(&app, &Sp("sp2")).await;
    app
}

#[tokio::test]
async fn single_logout_from_one_sp_reaches_the_other_then_answers_the_first() {
    let app = setup().await;
    let (one, two) = (Sp("sp1"), Sp("sp2"));
    let browser = app.browser();
    let at_one = sso(&app, &browser, &one, true).await;
    let at_two = sso(&app, &browser, &two, false).await;
    assert_eq!(at_one.1, at_two.1, "one session, one SessionIndex");
    let response = browser
        .get(&logout_request(&app, &one, "_lo1", &at_one.0))
        .await;
    let (xml, relay) = at_sp(&app, response, &two, "SAMLRequest").await;
    let id = check_request(&app, &xml, &two, &at_two);
    let relay = relay.expect("a RelayState to come back with");
    // A response that answers another request is refused.
    let wrong = browser
        .get(&logout_response(&app, &two, "_other", &relay))
        .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    // The chain was spent by the refused answer: a fresh logout from SP 2's side still works
    // below; here the right answer after a wrong one finds nothing.
    let spent = browser.get(&logout_response(&app, &two, &id, &relay)).await;
    assert_eq!(spent.status(), StatusCode::BAD_REQUEST);
    // The session is gone anyway.
    let again = browser.get(&sso_url(&app, &one, "_again")).await;
    assert!(location(&again).unwrap().contains("/contoso/login?tx="));
}

#[tokio::test]
async fn the_chain_ends_with_a_signed_logout_response_to_the_sp_that_asked() {
    let app = setup().await;
    let (one, two) = (Sp("sp1"), Sp("sp2"));
    let browser = app.browser();
    let at_one = sso(&app, &browser, &one, true).await;
    let at_two = sso(&app, &browser, &two, false).await;
    let response = browser
        .get(&logout_request(&app, &one, "_lo2", &at_one.0))
        .await;
    let (xml, relay) = at_sp(&app, response, &two, "SAMLRequest").await;
    let id = check_request(&app, &xml, &two, &at_two);
    let response = browser
        .get(&logout_response(&app, &two, &id, &relay.unwrap()))
        .await;
    let (xml, relay) = at_sp(&app, response, &one, "SAMLResponse").await;
    let answer = samael::schema::LogoutResponse::from_str(&xml).unwrap();
    assert_eq!(answer.in_response_to.as_deref(), Some("_lo2"));
    assert_eq!(
        answer.status.unwrap().status_code.value.as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:status:Success")
    );
    assert_eq!(relay.as_deref(), Some("from-sp1"));
    let again = browser.get(&sso_url(&app, &two, "_again")).await;
    assert!(location(&again).unwrap().contains("/contoso/login?tx="));
}

#[tokio::test]
async fn rp_initiated_oidc_logout_reaches_the_sessions_saml_sps() {
    let app = setup().await;
    let two = Sp("sp2");
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
    let tokens: serde_json::Value = app
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
    let id_token = tokens["id_token"].as_str().unwrap();
    let at_two = sso(&app, &browser, &two, false).await;
    assert_eq!(
        jwt_parts(id_token).1["sid"].as_str(),
        Some(at_two.1.as_str())
    );
    let logged_out = format!("{REDIRECT}/logged-out");
    let response = browser
        .get(&format!(
            "{}/oauth2/logout?{}",
            app.issuer("contoso"),
            encode(&[
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", &logged_out),
                ("state", "s3"),
            ])
        ))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let hop = location(&response).unwrap();
    assert!(hop.contains("/contoso/saml/slo?chain="), "{hop}");
    let response = browser.get(&hop).await;
    let (xml, relay) = at_sp(&app, response, &two, "SAMLRequest").await;
    let id = check_request(&app, &xml, &two, &at_two);
    let response = browser
        .get(&logout_response(&app, &two, &id, &relay.unwrap()))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&response).unwrap(),
        format!("{logged_out}?state=s3")
    );
}
