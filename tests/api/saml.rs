//! The SAML IdP over real HTTP: SP-initiated sign-in by both bindings, IdP-initiated launch,
//! what the Response says, single logout, and the IdP-side bad input of SECURITY.md part (c)
//! (I.1–I.6): unregistered ACS, unknown Issuer, unsigned or badly signed requests from a
//! signing SP, SHA-1, DOCTYPE, inflate bombs, markup in user attributes.

use std::io::Write;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gatehouse::services::admin::{AppInput, SamlInput};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use reqwest::StatusCode;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider, ReduceMode};

use crate::helpers::{Browser, TestApp, location, parse_form};

const SP: &str = "https://sp.example/metadata";
const ACS: &str = "https://sp.example/acs";
const EMAIL: &str = "alice@contoso.example";
const PASSWORD: &str = "correct horse battery";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// A test SP: its key and certificate.
struct TestSp {
    key: PKey<Private>,
    certificate_pem: String,
}

impl TestSp {
    fn new() -> Self {
        let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let der = gatehouse::keys::certificate::self_signed(
            &key.private_key_to_der().unwrap(),
            "sp",
            1_790_000_000,
        )
        .unwrap();
        let cert = openssl::x509::X509::from_der(&der).unwrap();
        Self {
            key,
            certificate_pem: String::from_utf8(cert.to_pem().unwrap()).unwrap(),
        }
    }
}

async fn setup(sp: Option<&TestSp>, tune: impl FnOnce(&mut SamlInput)) -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let mut saml = SamlInput {
        entity_id: Some(SP.into()),
        acs_urls: vec![ACS.into(), format!("{ACS}/2")],
        slo_url: Some("https://sp.example/slo".into()),
        certificate: sp.map(|s| s.certificate_pem.clone()),
        requests_signed: sp.is_some(),
        ..SamlInput::default()
    };
    tune(&mut saml);
    let (client_id, _) = app
        .app(AppInput {
            tenant: "contoso".into(),
            name: "Payroll".into(),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            public: false,
            grants: vec![],
            signing_alg: None,
            saml: Some(saml),
            ..Default::default()
        })
        .await;
    (app, client_id)
}

fn sso(app: &TestApp) -> String {
    format!("{}/saml/sso", app.issuer("contoso"))
}

fn now() -> String {
    gatehouse::saml::response::instant(gatehouse::domain::unix_now())
}

/// An AuthnRequest; `extra` is inserted inside the element, `attributes` on it.
fn authn_request(app: &TestApp, id: &str, attributes: &str, extra: &str) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}" Destination="{}" AssertionConsumerServiceURL="{ACS}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" {attributes}><saml:Issuer>{SP}</saml:Issuer>{extra}</samlp:AuthnRequest>"#,
        now(),
        sso(app)
    )
}

fn deflate(xml: &str) -> String {
    let mut encoder =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(xml.as_bytes()).unwrap();
    STANDARD.encode(encoder.finish().unwrap())
}

fn enc(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The Redirect-binding URL of a request, signed by `sp` when given.
fn redirect_url(
    app: &TestApp,
    xml: &str,
    relay: Option<&str>,
    sp: Option<&TestSp>,
    sig_alg: &str,
) -> String {
    let mut query = format!("SAMLRequest={}", enc(&deflate(xml)));
    if let Some(relay) = relay {
        query.push_str(&format!("&RelayState={}", enc(relay)));
    }
    if let Some(sp) = sp {
        query.push_str(&format!("&SigAlg={}", enc(sig_alg)));
        let digest = if sig_alg.ends_with("sha1") {
            MessageDigest::sha1()
        } else {
            MessageDigest::sha256()
        };
        let signature = Signer::new(digest, &sp.key)
            .unwrap()
            .sign_oneshot_to_vec(query.as_bytes())
            .unwrap();
        query.push_str(&format!("&Signature={}", enc(&STANDARD.encode(signature))));
    }
    format!("{}?{query}", sso(app))
}

/// Signs in on the pages the SSO request leads to; returns the final response.
async fn sign_in(browser: &Browser, url: &str) -> reqwest::Response {
    let response = browser.get(url).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "SSO leads to the sign-in page"
    );
    let page = browser
        .get(&location(&response).unwrap())
        .await
        .text()
        .await
        .unwrap();
    let html = browser.submit_email(&page, EMAIL).await;
    browser.submit_password(&html, PASSWORD).await
}

/// The SAMLResponse XML and RelayState of an auto-posting page, checking where it posts.
async fn posted(response: reqwest::Response, acs: &str) -> (String, Option<String>) {
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self' https://sp.example"),
        "{csp}"
    );
    let form = parse_form(&response.text().await.unwrap());
    assert_eq!(form.action, acs);
    let xml = String::from_utf8(STANDARD.decode(&form.fields["SAMLResponse"]).unwrap()).unwrap();
    (xml, form.fields.get("RelayState").cloned())
}

/// The IdP certificates from its metadata.
async fn idp_certificates(app: &TestApp) -> Vec<CertificateDer> {
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
        .map(|c| CertificateDer::from(STANDARD.decode(c).unwrap()))
        .collect()
}

/// Verifies the signatures (SHA-256 only) and returns only the signed content.
async fn verified(app: &TestApp, xml: &str) -> String {
    let certs = idp_certificates(app).await;
    let allowed = [samael::crypto::AllowedSignatureAlgorithm::RsaSha256];
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &certs,
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(&allowed),
    )
    .expect("the response verifies against the metadata certificates")
}

/// The values of the attribute `name` of an assertion.
pub(crate) fn attribute<'a>(assertion: &'a samael::schema::Assertion, name: &str) -> Vec<&'a str> {
    assertion
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|s| s.attributes.iter())
        .filter(|a| a.name.as_deref() == Some(name))
        .flat_map(|a| a.values.iter().filter_map(|v| v.value.as_deref()))
        .collect()
}

/// IdP-initiated launch of `client_id` by a browser that signs in as `email`: the assertion,
/// once its signature checked out against the metadata.
pub(crate) async fn launched_assertion(
    app: &TestApp,
    slug: &str,
    client_id: &str,
    email: &str,
    password: &str,
) -> samael::schema::Assertion {
    let browser = app.browser();
    let response = browser
        .get(&format!("{}/saml/launch/{client_id}", app.issuer(slug)))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = browser
        .get(&location(&response).unwrap())
        .await
        .text()
        .await
        .unwrap();
    let html = browser.submit_email(&page, email).await;
    let response = browser.submit_password(&html, password).await;
    let (xml, _) = posted(response, ACS).await;
    let signed = verified(app, &xml).await;
    samael::schema::Assertion::from_str(&signed).expect("the signed content is the Assertion")
}

#[tokio::test]
async fn sp_initiated_redirect_sign_in_yields_a_signed_assertion_with_every_required_part() {
    let (app, _) = setup(None, |_| {}).await;
    let browser = app.browser();
    let url = redirect_url(
        &app,
        &authn_request(&app, "_req1", "", ""),
        Some("/home?x=1&y=\"<b>'"),
        None,
        RSA_SHA256,
    );
    let (xml, relay) = posted(sign_in(&browser, &url).await, ACS).await;
    // Unescaped, the quote would end the attribute and the form would post a cut value.
    assert_eq!(
        relay.as_deref(),
        Some("/home?x=1&y=\"<b>'"),
        "RelayState echoed unchanged (escaped in the page)"
    );
    assert!(xml.contains("Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\""));
    assert!(!xml.contains("sha1"), "no SHA-1 anywhere");
    let response = samael::schema::Response::from_str(&xml).unwrap();
    assert_eq!(response.destination.as_deref(), Some(ACS));
    assert_eq!(response.in_response_to.as_deref(), Some("_req1"));
    assert_eq!(
        response.issuer.as_ref().unwrap().value.as_deref(),
        Some(app.issuer("contoso").as_str())
    );
    assert!(response.id.len() >= 33 && response.id.starts_with('_'));
    let signed = verified(&app, &xml).await;
    let assertion =
        samael::schema::Assertion::from_str(&signed).expect("the signed content is the Assertion");
    assert_eq!(
        assertion.issuer.value.as_deref(),
        Some(app.issuer("contoso").as_str())
    );
    let subject = assertion.subject.as_ref().unwrap();
    let name_id = subject.name_id.as_ref().unwrap();
    assert_eq!(
        name_id.format.as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
    );
    assert_ne!(name_id.value, EMAIL, "persistent NameID is not the e-mail");
    let confirmation = &subject.subject_confirmations.as_ref().unwrap()[0];
    assert_eq!(
        confirmation.method.as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:cm:bearer")
    );
    let data = confirmation.subject_confirmation_data.as_ref().unwrap();
    assert_eq!(data.recipient.as_deref(), Some(ACS));
    assert_eq!(data.in_response_to.as_deref(), Some("_req1"));
    let ttl = data.not_on_or_after.unwrap().timestamp() - gatehouse::domain::unix_now();
    assert!(
        (0..=300).contains(&ttl),
        "bearer confirmation lives at most 5 minutes: {ttl}"
    );
    let conditions = assertion.conditions.as_ref().unwrap();
    assert!(conditions.not_before.is_some() && conditions.not_on_or_after.is_some());
    assert_eq!(
        conditions.audience_restrictions.as_ref().unwrap()[0].audience,
        vec![SP.to_owned()]
    );
    let authn = &assertion.authn_statements.as_ref().unwrap()[0];
    assert!(authn.session_index.is_some());
    assert_eq!(
        authn
            .authn_context
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap()
            .value
            .as_deref(),
        Some("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
    );
    for (claim, expected) in [
        (
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
            EMAIL,
        ),
        (
            "http://schemas.microsoft.com/identity/claims/displayname",
            "Alice Example",
        ),
        (
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
            "Alice",
        ),
        (
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
            "Example",
        ),
        (
            "http://schemas.microsoft.com/identity/claims/identityprovider",
            &app.issuer("contoso"),
        ),
        (
            "http://schemas.microsoft.com/claims/authnmethodsreferences",
            "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password",
        ),
    ] {
        assert_eq!(attribute(&assertion, claim), vec![expected], "{claim}");
    }
    let tid = app
        .state
        .directory
        .tenant("contoso")
        .await
        .unwrap()
        .unwrap()
        .id
        .clone();
    assert_eq!(
        attribute(
            &assertion,
            "http://schemas.microsoft.com/identity/claims/tenantid"
        ),
        vec![tid.as_str()]
    );

    // The same browser is signed in for the next request: no page, a new assertion.
    let again = browser
        .get(&redirect_url(
            &app,
            &authn_request(&app, "_req2", "", ""),
            None,
            None,
            RSA_SHA256,
        ))
        .await;
    let (xml, _) = posted(again, ACS).await;
    let second = samael::schema::Assertion::from_str(&verified(&app, &xml).await).unwrap();
    assert_eq!(
        second.subject.unwrap().name_id.unwrap().value,
        name_id.value,
        "stable NameID"
    );
}

#[tokio::test]
async fn post_binding_with_a_signed_request_and_an_oidc_session_is_answered_after_one_hop() {
    let sp = TestSp::new();
    let (app, _) = setup(Some(&sp), |s| s.sign_response = true).await;
    // Sign in through OIDC first: SAML and OIDC share the session.
    let oidc = app.web_app("contoso", "https://rp.example/cb").await;
    let browser = app.browser();
    let pkce = crate::helpers::Pkce::new();
    browser
        .sign_in(
            &oidc.authorize_url(&app.issuer("contoso"), "openid", &pkce, &[]),
            EMAIL,
            PASSWORD,
        )
        .await;
    // An enveloped-signed AuthnRequest by POST (the SP signs with xmlsec through samael).
    let id = "_post1";
    let template = format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{RSA_SHA256}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"##
    );
    let unsigned = authn_request(&app, id, "", "").replace(
        &format!("<saml:Issuer>{SP}</saml:Issuer>"),
        &format!("<saml:Issuer>{SP}</saml:Issuer>{template}"),
    );
    let signed = Crypto::sign_xml(&unsigned, &sp.key.private_key_to_der().unwrap()).unwrap();
    let response = browser
        .post_cross_site(
            &sso(&app),
            "https://sp.example",
            &[
                ("SAMLRequest", STANDARD.encode(&signed)),
                ("RelayState", "r-1".into()),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "a cross-site POST has no cookies: one hop to check"
    );
    let (xml, relay) = posted(browser.get(&location(&response).unwrap()).await, ACS).await;
    assert_eq!(relay.as_deref(), Some("r-1"));
    assert_eq!(
        xml.matches("<ds:SignatureValue>").count(),
        2,
        "Response and Assertion both signed"
    );
    let reduced = verified(&app, &xml).await;
    let response = samael::schema::Response::from_str(&reduced).unwrap();
    assert_eq!(response.in_response_to.as_deref(), Some(id));

    // The same document with its Issuer changed no longer verifies.
    let forged = signed.replace("ID=\"_post1\"", "ID=\"_post1\" ForceAuthn=\"true\"");
    let response = app
        .browser()
        .post_cross_site(
            &sso(&app),
            "https://sp.example",
            &[("SAMLRequest", STANDARD.encode(&forged))],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn requests_that_fail_before_the_acs_is_trusted_get_a_page_never_a_post() {
    let sp = TestSp::new();
    let other = TestSp::new();
    let (app, _) = setup(Some(&sp), |_| {}).await;
    let good = |id: &str| authn_request(&app, id, "", "");
    let bomb = format!(
        "SAMLRequest={}",
        enc(&deflate(&format!(
            "<x>{}</x>",
            "A".repeat(10 * 1024 * 1024)
        )))
    );
    let doctype = format!(
        "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
        good("_d").replace(SP, "&e;")
    );
    let cases: Vec<(&str, String)> = vec![
        (
            "unregistered ACS",
            redirect_url(
                &app,
                &good("_a").replace(ACS, "https://evil.example/acs"),
                None,
                Some(&sp),
                RSA_SHA256,
            ),
        ),
        (
            "both an ACS URL and an index",
            redirect_url(
                &app,
                &authn_request(&app, "_i", "AssertionConsumerServiceIndex=\"0\"", ""),
                None,
                Some(&sp),
                RSA_SHA256,
            ),
        ),
        (
            "unknown Issuer",
            redirect_url(
                &app,
                &good("_b").replace(SP, "https://unknown.example"),
                None,
                Some(&sp),
                RSA_SHA256,
            ),
        ),
        (
            "unsigned from a signing SP",
            redirect_url(&app, &good("_c"), None, None, RSA_SHA256),
        ),
        (
            "signed by someone else",
            redirect_url(&app, &good("_e"), None, Some(&other), RSA_SHA256),
        ),
        (
            "SHA-1",
            redirect_url(
                &app,
                &good("_f"),
                None,
                Some(&sp),
                "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
            ),
        ),
        (
            "DOCTYPE",
            redirect_url(&app, &doctype, None, Some(&sp), RSA_SHA256),
        ),
        ("inflate bomb", format!("{}?{bomb}", sso(&app))),
        ("not base64", format!("{}?SAMLRequest=%%%", sso(&app))),
    ];
    for (case, url) in cases {
        let response = app.browser().get(&url).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        assert!(location(&response).is_none(), "{case}");
        let html = response.text().await.unwrap();
        assert!(
            !html.contains("SAMLResponse"),
            "{case} must not post anything"
        );
    }
    // A tampered RelayState breaks the signature too.
    let url = redirect_url(&app, &good("_g"), Some("a"), Some(&sp), RSA_SHA256)
        .replace("RelayState=a", "RelayState=b");
    assert_eq!(
        app.browser().get(&url).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn requests_the_idp_cannot_honour_get_a_signed_error_status_at_the_registered_acs() {
    let (app, _) = setup(None, |_| {}).await;
    let mfa = r#"<samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>https://refeds.org/profile/mfa</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#;
    let unknown_context = r#"<samlp:RequestedAuthnContext><saml:AuthnContextClassRef>urn:example:retina</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#;
    let email_policy =
        r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"/>"#;
    let cases = [
        (
            "IsPassive without a session",
            authn_request(&app, "_p", "IsPassive=\"true\"", ""),
            None,
            "NoPassive",
        ),
        (
            "unknown context",
            authn_request(&app, "_u", "", unknown_context),
            None,
            "NoAuthnContext",
        ),
        (
            "NameID policy",
            authn_request(&app, "_n", "", email_policy),
            None,
            "InvalidNameIDPolicy",
        ),
        (
            "artifact binding",
            authn_request(&app, "_b", "", "")
                .replace("bindings:HTTP-POST", "bindings:HTTP-Artifact"),
            None,
            "UnsupportedBinding",
        ),
        (
            "long RelayState",
            authn_request(&app, "_r", "", ""),
            Some("x".repeat(81)),
            "RequestDenied",
        ),
        (
            "SAML 2.1",
            authn_request(&app, "_v", "", "").replace("Version=\"2.0\"", "Version=\"2.1\""),
            None,
            "VersionMismatch\"><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:RequestVersionTooHigh",
        ),
        (
            "SAML 1.1",
            authn_request(&app, "_w", "", "").replace("Version=\"2.0\"", "Version=\"1.1\""),
            None,
            "VersionMismatch\"><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:RequestVersionTooLow",
        ),
        (
            "unknown subject",
            authn_request(&app, "_s", "", &subject("nobody@contoso.example")),
            None,
            "Responder\"><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal",
        ),
    ];
    for (case, xml, relay, expected) in cases {
        let response = app
            .browser()
            .get(&redirect_url(
                &app,
                &xml,
                relay.as_deref(),
                None,
                RSA_SHA256,
            ))
            .await;
        let (xml, _) = posted(response, ACS).await;
        assert!(
            xml.contains(&format!("urn:oasis:names:tc:SAML:2.0:status:{expected}")),
            "{case}: {xml}"
        );
        assert!(
            !xml.contains("<saml:Assertion"),
            "{case}: no assertion on error"
        );
        verified(&app, &xml).await;
    }
    // A requested MFA context is met by running the second factor, never by a weaker
    // assertion: after the password the user is taken to authenticator enrolment.
    let browser = app.browser();
    let url = redirect_url(
        &app,
        &authn_request(&app, "_m", "", mfa),
        None,
        None,
        RSA_SHA256,
    );
    let response = sign_in(&browser, &url).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "to the MFA step");
    let page = browser.get(&location(&response).unwrap()).await;
    let html = page.text().await.unwrap();
    assert!(html.contains("Set up your authenticator app"), "{html}");
    assert!(!html.contains("SAMLResponse"));
}

/// A `<saml:Subject>` naming `email`.
fn subject(email: &str) -> String {
    format!(
        r#"<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{email}</saml:NameID></saml:Subject>"#
    )
}

#[tokio::test]
async fn a_request_naming_a_subject_is_never_answered_for_someone_else() {
    let (app, _) = setup(None, |_| {}).await;
    app.user("contoso", "bob@contoso.example", "bob's long password")
        .await;
    let browser = app.browser();
    let url = |id: &str, extra: &str| {
        redirect_url(
            &app,
            &authn_request(&app, id, "", extra),
            None,
            None,
            RSA_SHA256,
        )
    };
    // Alice signs in; a request naming Alice is answered silently, with Alice.
    posted(sign_in(&browser, &url("_1", "")).await, ACS).await;
    let silent = browser.get(&url("_2", &subject(EMAIL))).await;
    let (xml, _) = posted(silent, ACS).await;
    assert!(
        xml.contains("status:Success") && xml.contains(EMAIL),
        "{xml}"
    );
    // A request naming Bob does not use Alice's session: it asks for Bob, pre-filled.
    let for_bob = browser
        .get(&url("_3", &subject("bob@contoso.example")))
        .await;
    assert_eq!(for_bob.status(), StatusCode::SEE_OTHER);
    let page = browser
        .get(&location(&for_bob).unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("name=\"password\"") && page.contains("bob@contoso.example"));
    // Signing in there as Alice anyway (another account) gets an error, not Alice's assertion.
    let restart = parse_form(&page);
    let mut fields = restart.fields.clone();
    fields.insert("action".into(), "restart".into());
    let back = browser.post_form(&restart.action, &fields).await;
    let page = browser
        .get(&location(&back).unwrap())
        .await
        .text()
        .await
        .unwrap();
    let html = browser.submit_email(&page, EMAIL).await;
    let (xml, _) = posted(browser.submit_password(&html, PASSWORD).await, ACS).await;
    assert!(xml.contains("status:AuthnFailed"), "{xml}");
    assert!(!xml.contains("<saml:Assertion"));
    verified(&app, &xml).await;
}

#[tokio::test]
async fn force_authn_shows_the_sign_in_page_even_with_a_session() {
    let (app, _) = setup(None, |_| {}).await;
    let browser = app.browser();
    posted(
        sign_in(
            &browser,
            &redirect_url(
                &app,
                &authn_request(&app, "_1", "", ""),
                None,
                None,
                RSA_SHA256,
            ),
        )
        .await,
        ACS,
    )
    .await;
    let forced = browser
        .get(&redirect_url(
            &app,
            &authn_request(&app, "_2", "ForceAuthn=\"true\"", ""),
            None,
            None,
            RSA_SHA256,
        ))
        .await;
    assert_eq!(forced.status(), StatusCode::SEE_OTHER);
    assert!(location(&forced).unwrap().contains("/contoso/login?tx="));
}

#[tokio::test]
async fn markup_in_attributes_is_escaped_and_the_signature_still_verifies() {
    let (app, _) = setup(None, |s| s.nameid_format = Some("emailAddress".into())).await;
    // A user whose display name is markup (control characters are refused at input).
    let hostile = "</saml:AttributeValue><saml:Attribute Name=\"role\">admin]]><!--";
    gatehouse::services::admin::create_user(
        app.state.store.as_ref(),
        &app.state.passwords,
        gatehouse::services::admin::UserInput {
            tenant: "contoso".into(),
            email: "mallory@contoso.example".into(),
            name: hostile.into(),
            given_name: None,
            family_name: None,
            password: Some("mallory's long password".into()),
            roles: vec![],
        },
    )
    .await
    .unwrap();
    let browser = app.browser();
    let url = redirect_url(
        &app,
        &authn_request(&app, "_x", "", ""),
        None,
        None,
        RSA_SHA256,
    );
    let response = browser.get(&url).await;
    let page = browser
        .get(&location(&response).unwrap())
        .await
        .text()
        .await
        .unwrap();
    let html = browser.submit_email(&page, "mallory@contoso.example").await;
    let (xml, _) = posted(
        browser
            .submit_password(&html, "mallory's long password")
            .await,
        ACS,
    )
    .await;
    let signed = verified(&app, &xml).await;
    let assertion = samael::schema::Assertion::from_str(&signed).unwrap();
    assert_eq!(
        attribute(
            &assertion,
            "http://schemas.microsoft.com/identity/claims/displayname"
        ),
        vec![hostile]
    );
    assert!(
        attribute(&assertion, "role").is_empty(),
        "no injected attribute"
    );
    assert_eq!(
        assertion.subject.unwrap().name_id.unwrap().value,
        "mallory@contoso.example"
    );
}

#[tokio::test]
async fn idp_initiated_launch_sends_an_unsolicited_assertion_to_the_default_acs() {
    let (app, client_id) = setup(None, |_| {}).await;
    let browser = app.browser();
    let url = format!(
        "{}/saml/launch/{client_id}?RelayState=%2Fdashboard",
        app.issuer("contoso")
    );
    let (xml, relay) = posted(sign_in(&browser, &url).await, ACS).await;
    assert_eq!(relay.as_deref(), Some("/dashboard"));
    let response = samael::schema::Response::from_str(&xml).unwrap();
    assert!(response.in_response_to.is_none());
    verified(&app, &xml).await;
    let unknown = browser
        .get(&format!("{}/saml/launch/nope", app.issuer("contoso")))
        .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn single_logout_ends_the_session_and_answers_with_a_signed_logout_response() {
    let sp = TestSp::new();
    let (app, _) = setup(Some(&sp), |_| {}).await;
    let browser = app.browser();
    let url = redirect_url(
        &app,
        &authn_request(&app, "_1", "", ""),
        None,
        Some(&sp),
        RSA_SHA256,
    );
    let (xml, _) = posted(sign_in(&browser, &url).await, ACS).await;
    let assertion = samael::schema::Assertion::from_str(&verified(&app, &xml).await).unwrap();
    let name_id = assertion.subject.unwrap().name_id.unwrap().value;
    let logout = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lo1" Version="2.0" IssueInstant="{}" Destination="{}/saml/slo"><saml:Issuer>{SP}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{name_id}</saml:NameID></samlp:LogoutRequest>"#,
        now(),
        app.issuer("contoso")
    );
    let mut query = format!(
        "SAMLRequest={}&RelayState=bye&SigAlg={}",
        enc(&deflate(&logout)),
        enc(RSA_SHA256)
    );
    // Unsigned: refused, still signed in.
    let unsigned = browser
        .get(&format!(
            "{}/saml/slo?SAMLRequest={}",
            app.issuer("contoso"),
            enc(&deflate(&logout))
        ))
        .await;
    assert_eq!(unsigned.status(), StatusCode::BAD_REQUEST);
    let signature = Signer::new(MessageDigest::sha256(), &sp.key)
        .unwrap()
        .sign_oneshot_to_vec(query.as_bytes())
        .unwrap();
    query.push_str(&format!("&Signature={}", enc(&STANDARD.encode(signature))));
    let response = browser
        .get(&format!("{}/saml/slo?{query}", app.issuer("contoso")))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let back = location(&response).unwrap();
    assert!(back.starts_with("https://sp.example/slo?SAMLResponse="));
    let raw_query = back.split_once('?').unwrap().1;
    let idp_certs: Vec<String> = idp_certificates(&app)
        .await
        .iter()
        .map(|c| STANDARD.encode(c.der_data()))
        .collect();
    gatehouse::saml::request::verify_redirect_signature(raw_query, &idp_certs)
        .expect("the LogoutResponse is signed by the IdP");
    assert!(raw_query.contains("RelayState=bye"));
    // Signed out: the next request needs the sign-in page again.
    let again = browser
        .get(&redirect_url(
            &app,
            &authn_request(&app, "_2", "", ""),
            None,
            Some(&sp),
            RSA_SHA256,
        ))
        .await;
    assert!(location(&again).unwrap().contains("/contoso/login?tx="));
}

#[tokio::test]
async fn metadata_publishes_the_next_certificate_before_it_signs() {
    let app = TestApp::spawn_with(|c| c.keys.jwks_max_age = 3600).await;
    app.tenant("contoso").await;
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
    assert_eq!(
        entity.entity_id.as_deref(),
        Some(app.issuer("contoso").as_str())
    );
    let idp = &entity.idp_sso_descriptors.unwrap()[0];
    assert_eq!(idp.key_descriptors.len(), 2, "active and next RSA keys");
    let bindings: Vec<&str> = idp
        .single_sign_on_services
        .iter()
        .map(|s| s.binding.as_str())
        .collect();
    assert!(bindings.contains(&"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"));
    assert!(bindings.contains(&"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"));
    assert!(!idp.single_logout_services.is_empty());
}

#[tokio::test]
async fn a_policy_requiring_mfa_runs_totp_before_the_assertion_which_says_so() {
    let (app, client_id) = setup(None, |_| {}).await;
    let tenant = gatehouse::services::admin::tenant_by_slug(app.state.store.as_ref(), "contoso")
        .await
        .unwrap();
    crate::factors::policy(
        &app.state,
        &tenant,
        serde_json::json!({
            "users": {"includeUsers": ["All"]},
            "applications": {"includeApplications": [client_id]}
        }),
        serde_json::json!({"builtInControls": ["mfa"]}),
    )
    .await;
    let browser = app.browser();
    let url = redirect_url(
        &app,
        &authn_request(&app, "_mfa", "", ""),
        None,
        None,
        RSA_SHA256,
    );
    let response = sign_in(&browser, &url).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "to the second factor"
    );
    let page = browser
        .get(&location(&response).unwrap())
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("value=\"enroll\""), "{page}");
    let secret = crate::factors::enrolment_secret(&page);
    let mut form = parse_form(&page);
    form.fields
        .insert("code".into(), crate::factors::code(&secret, 0));
    let confirmed = browser.post_form(&form.action, &form.fields).await;
    let recovery = browser
        .get(&location(&confirmed).unwrap())
        .await
        .text()
        .await
        .unwrap();
    let form = parse_form(&recovery);
    let done = browser.post_form(&form.action, &form.fields).await;
    let (xml, _) = posted(done, ACS).await;
    assert!(
        xml.contains(
            "<saml:AuthnContextClassRef>https://refeds.org/profile/mfa</saml:AuthnContextClassRef>"
        ),
        "{xml}"
    );
    verified(&app, &xml).await;
}

#[tokio::test]
async fn an_sp_that_requires_assignment_gets_request_denied_for_unassigned_users() {
    let app = TestApp::spawn().await;
    app.tenant("contoso").await;
    app.user("contoso", EMAIL, PASSWORD).await;
    let (client_id, _) = app
        .app(AppInput {
            tenant: "contoso".into(),
            name: "Payroll".into(),
            assignment_required: true,
            saml: Some(SamlInput {
                entity_id: Some(SP.into()),
                acs_urls: vec![ACS.into()],
                ..SamlInput::default()
            }),
            ..Default::default()
        })
        .await;
    // SP-initiated: the sign-in goes through, the answer is a RequestDenied status.
    let browser = app.browser();
    let response = sign_in(
        &browser,
        &redirect_url(
            &app,
            &authn_request(&app, "_a1", "", ""),
            None,
            None,
            RSA_SHA256,
        ),
    )
    .await;
    let (xml, _) = posted(response, ACS).await;
    assert!(
        xml.contains("urn:oasis:names:tc:SAML:2.0:status:RequestDenied")
            && !xml.contains("<saml:Assertion"),
        "{xml}"
    );
    // IdP-initiated with the session that now exists: the same.
    let launched = browser
        .get(&format!(
            "{}/saml/launch/{client_id}",
            app.issuer("contoso")
        ))
        .await;
    let (xml, _) = posted(launched, ACS).await;
    assert!(xml.contains("status:RequestDenied"), "{xml}");
    // Once assigned, an assertion.
    gatehouse::services::admin::assignments::assign(
        app.state.store.as_ref(),
        "contoso",
        &client_id,
        &gatehouse::services::admin::assignments::Assignee::User(EMAIL.into()),
    )
    .await
    .unwrap();
    let launched = browser
        .get(&format!(
            "{}/saml/launch/{client_id}",
            app.issuer("contoso")
        ))
        .await;
    let (xml, _) = posted(launched, ACS).await;
    assert!(
        xml.contains("status:Success") && xml.contains("Assertion"),
        "{xml}"
    );
}

const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/// A `<samlp:NameIDPolicy>` asking for `format`, as python3-saml and mod_auth_mellon send it.
fn name_id_policy(format: &str) -> String {
    format!(r#"<samlp:NameIDPolicy Format="{format}" AllowCreate="true"/>"#)
}

/// The (Format, value) of the NameID of the verified assertion posted by `response`, wherever
/// it is posted.
async fn asserted_name_id(app: &TestApp, response: reqwest::Response) -> (String, String) {
    assert_eq!(response.status(), StatusCode::OK);
    let form = parse_form(&response.text().await.unwrap());
    let xml = String::from_utf8(STANDARD.decode(&form.fields["SAMLResponse"]).unwrap()).unwrap();
    let assertion = samael::schema::Assertion::from_str(&verified(app, &xml).await)
        .unwrap_or_else(|_| panic!("an assertion: {xml}"));
    let name_id = assertion.subject.unwrap().name_id.unwrap();
    (name_id.format.unwrap_or_default(), name_id.value)
}

#[tokio::test]
async fn an_sp_whose_metadata_lists_only_email_address_receives_the_address() {
    // python3-saml's default metadata: one NameIDFormat, emailAddress, and its AuthnRequests
    // ask for it.
    let metadata = format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{SP}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example/slo"/>
    <md:NameIDFormat>{NAMEID_EMAIL}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{ACS}" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
    );
    let (app, _) = setup(None, |saml| saml.metadata = Some(metadata)).await;
    let browser = app.browser();
    let url = redirect_url(
        &app,
        &authn_request(&app, "_m1", "", &name_id_policy(NAMEID_EMAIL)),
        None,
        None,
        RSA_SHA256,
    );
    let (format, value) = asserted_name_id(&app, sign_in(&browser, &url).await).await;
    assert_eq!((format.as_str(), value.as_str()), (NAMEID_EMAIL, EMAIL));
    // Without a NameIDPolicy, or with `unspecified`: the registered format, the address.
    for (id, extra) in [
        ("_m2", String::new()),
        ("_m3", name_id_policy(NAMEID_UNSPECIFIED)),
    ] {
        let url = redirect_url(
            &app,
            &authn_request(&app, id, "", &extra),
            None,
            None,
            RSA_SHA256,
        );
        let (format, value) = asserted_name_id(&app, browser.get(&url).await).await;
        assert_eq!(
            (format.as_str(), value.as_str()),
            (NAMEID_EMAIL, EMAIL),
            "{id}"
        );
    }
    // A persistent identifier is not what this SP was registered for.
    let url = redirect_url(
        &app,
        &authn_request(&app, "_m4", "", &name_id_policy(NAMEID_PERSISTENT)),
        None,
        None,
        RSA_SHA256,
    );
    let (xml, _) = posted(browser.get(&url).await, ACS).await;
    assert!(xml.contains("status:InvalidNameIDPolicy"), "{xml}");
}

#[tokio::test]
async fn unspecified_means_the_registered_format() {
    let (app, _) = setup(None, |_| {}).await;
    let browser = app.browser();
    let url = redirect_url(
        &app,
        &authn_request(&app, "_u1", "", &name_id_policy(NAMEID_UNSPECIFIED)),
        None,
        None,
        RSA_SHA256,
    );
    let (format, value) = asserted_name_id(&app, sign_in(&browser, &url).await).await;
    assert_eq!(format, NAMEID_PERSISTENT);
    assert_ne!(value, EMAIL);
}

/// A signed HTTP-Redirect LogoutRequest from `sp` naming `name_id` in `format`; returns the
/// LogoutResponse's XML.
async fn single_logout(
    app: &TestApp,
    browser: &Browser,
    sp: &TestSp,
    id: &str,
    name_id: &str,
    format: &str,
) -> String {
    let logout = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}" Destination="{}/saml/slo"><saml:Issuer>{SP}</saml:Issuer><saml:NameID Format="{format}">{name_id}</saml:NameID></samlp:LogoutRequest>"#,
        now(),
        app.issuer("contoso")
    );
    let mut query = format!(
        "SAMLRequest={}&SigAlg={}",
        enc(&deflate(&logout)),
        enc(RSA_SHA256)
    );
    let signature = Signer::new(MessageDigest::sha256(), &sp.key)
        .unwrap()
        .sign_oneshot_to_vec(query.as_bytes())
        .unwrap();
    query.push_str(&format!("&Signature={}", enc(&STANDARD.encode(signature))));
    let response = browser
        .get(&format!("{}/saml/slo?{query}", app.issuer("contoso")))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let back = location(&response).unwrap();
    let encoded = crate::helpers::query_param(&back, "SAMLResponse").unwrap();
    gatehouse::samlxml::xml::decode_redirect(&encoded).unwrap()
}

#[tokio::test]
async fn transient_name_ids_are_random_per_session_and_sp_and_single_logout_finds_them() {
    // mod_auth_mellon with the metadata mellon_create_metadata writes (no NameIDFormat) asks
    // for transient; the SP is registered as persistent.
    let sp = TestSp::new();
    let (app, _) = setup(Some(&sp), |_| {}).await;
    let transient = name_id_policy(NAMEID_TRANSIENT);
    let request = |id: &str| {
        redirect_url(
            &app,
            &authn_request(&app, id, "", &transient),
            None,
            Some(&sp),
            RSA_SHA256,
        )
    };
    let browser = app.browser();
    let (format, first) = asserted_name_id(&app, sign_in(&browser, &request("_t1")).await).await;
    assert_eq!(format, NAMEID_TRANSIENT);
    assert!(
        first.starts_with('_') && first.len() >= 23,
        "at least 128 random bits: {first}"
    );
    assert_ne!(first, EMAIL);
    // The same session asks again: the same transient NameID (the SP's session stays one).
    let (_, again) = asserted_name_id(&app, browser.get(&request("_t2")).await).await;
    assert_eq!(again, first);
    // The registered format is unchanged for requests that do not ask for transient.
    let url = redirect_url(
        &app,
        &authn_request(&app, "_t3", "", ""),
        None,
        Some(&sp),
        RSA_SHA256,
    );
    let (format, persistent) = asserted_name_id(&app, browser.get(&url).await).await;
    assert_eq!(format, NAMEID_PERSISTENT);
    assert_ne!(persistent, first);
    // Another SP in the same session gets another transient NameID.
    let other_sp = "https://other-sp.example/metadata";
    let other_acs = "https://other-sp.example/acs";
    app.app(AppInput {
        tenant: "contoso".into(),
        name: "Intranet".into(),
        saml: Some(SamlInput {
            entity_id: Some(other_sp.into()),
            acs_urls: vec![other_acs.into()],
            ..SamlInput::default()
        }),
        ..Default::default()
    })
    .await;
    let url = redirect_url(
        &app,
        &authn_request(&app, "_o1", "", &transient)
            .replace(SP, other_sp)
            .replace(ACS, other_acs),
        None,
        None,
        RSA_SHA256,
    );
    let (format, elsewhere) = asserted_name_id(&app, browser.get(&url).await).await;
    assert_eq!(format, NAMEID_TRANSIENT);
    assert_ne!(elsewhere, first);
    // Another session of the same user at the same SP: another one.
    let second_browser = app.browser();
    let (_, second) = asserted_name_id(&app, sign_in(&second_browser, &request("_t4")).await).await;
    assert_ne!(second, first);

    // Single logout naming the other session's transient NameID does not end this session.
    let refused = single_logout(&app, &browser, &sp, "_l1", &second, NAMEID_TRANSIENT).await;
    assert!(refused.contains("status:UnknownPrincipal"), "{refused}");
    let still = browser.get(&request("_t5")).await;
    assert_eq!(still.status(), StatusCode::OK, "still signed in");
    // Naming this session's transient NameID ends it.
    let done = single_logout(&app, &browser, &sp, "_l2", &first, NAMEID_TRANSIENT).await;
    assert!(done.contains("status:Success"), "{done}");
    let after = browser.get(&request("_t6")).await;
    assert!(
        location(&after).unwrap().contains("/contoso/login?tx="),
        "signed out"
    );
    // The next session gets a new transient NameID, never the old one again.
    let (_, next) = asserted_name_id(&app, sign_in(&browser, &request("_t7")).await).await;
    assert_ne!(next, first);
    assert_ne!(next, second);
}

/// What a refused request led to: a `Requester` status posted to the registered ACS (with
/// InResponseTo) or a page (`None`).
async fn refusal(app: &TestApp, response: reqwest::Response) -> Option<String> {
    if response.status() == StatusCode::BAD_REQUEST {
        assert!(location(&response).is_none());
        let html = response.text().await.unwrap();
        assert!(!html.contains("SAMLResponse"), "a page posts nothing");
        assert!(html.contains("not well-formed SAML"), "{html}");
        return None;
    }
    let (xml, _) = posted(response, ACS).await;
    verified(app, &xml).await;
    assert!(!xml.contains("Assertion"), "{xml}");
    let status = samael::schema::Response::from_str(&xml)
        .unwrap()
        .status
        .unwrap()
        .status_code
        .value
        .unwrap();
    assert_eq!(status, "urn:oasis:names:tc:SAML:2.0:status:Requester");
    Some(xml)
}

#[tokio::test]
async fn requests_that_are_not_well_formed_saml_are_refused_the_right_way() {
    let sp = TestSp::new();
    let (app, _) = setup(Some(&sp), |_| {}).await;
    let good = |id: &str| authn_request(&app, id, "", "");
    let signed = |xml: &str| redirect_url(&app, xml, None, Some(&sp), RSA_SHA256);
    let issuer = format!("<saml:Issuer>{SP}</saml:Issuer>");
    // The SP and the ACS are known from what precedes the fault, and the query signature is
    // the SP's: a Requester status at the ACS.
    let trusted = [
        (
            "a second root",
            format!(
                "{}<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" ID=\"_evil\" AssertionConsumerServiceURL=\"https://evil.example/acs\"/>",
                good("_x1")
            ),
            "_x1",
        ),
        (
            "text after the root",
            format!("{} trailing text", good("_x2")),
            "_x2",
        ),
        (
            "trailing garbage",
            format!("{}</samlp:AuthnRequest>>>", good("_x3")),
            "_x3",
        ),
        (
            "a child in a foreign namespace",
            authn_request(
                &app,
                "_x4",
                "",
                "<evil:NameIDPolicy xmlns:evil=\"urn:evil\" Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress\"/>",
            ),
            "_x4",
        ),
    ];
    for (case, xml, id) in trusted {
        let answer = refusal(&app, app.browser().get(&signed(&xml)).await).await;
        let xml = answer.unwrap_or_else(|| panic!("{case}: a Requester status, not a page"));
        assert!(
            xml.contains(&format!("InResponseTo=\"{id}\"")),
            "{case}: {xml}"
        );
        assert!(xml.contains("not well-formed SAML"), "{case}: {xml}");
    }
    // Nothing trustworthy before the fault, or an ACS, SP or signature that cannot be
    // trusted: a page, never a post.
    let foreign_root = good("_p1")
        .replacen(
            "<samlp:AuthnRequest ",
            "<evil:AuthnRequest xmlns:evil=\"urn:evil\" ",
            1,
        )
        .replace("</samlp:AuthnRequest>", "</evil:AuthnRequest>");
    let foreign_issuer = good("_p2").replace(
        &issuer,
        &format!("<evil:Issuer xmlns:evil=\"urn:evil\">{SP}</evil:Issuer>"),
    );
    let protocol_issuer =
        good("_p3").replace(&issuer, &format!("<samlp:Issuer>{SP}</samlp:Issuer>"));
    let doctype = format!("<!DOCTYPE x>{}", good("_p4"));
    let evil_acs = format!(
        "{} trailing text",
        good("_p5").replace(ACS, "https://evil.example/acs")
    );
    let comment = good("_p6").replace(&issuer, &format!("<!-- x -->{issuer}"));
    let pages = [
        (
            "an AuthnRequest in a foreign namespace",
            signed(&foreign_root),
        ),
        ("an Issuer in a foreign namespace", signed(&foreign_issuer)),
        (
            "an Issuer in the protocol namespace",
            signed(&protocol_issuer),
        ),
        ("a DOCTYPE", signed(&doctype)),
        ("an unregistered ACS before the fault", signed(&evil_acs)),
        ("a comment before the Issuer", signed(&comment)),
        (
            "unsigned from a signing SP",
            redirect_url(&app, &format!("{} x", good("_p7")), None, None, RSA_SHA256),
        ),
        (
            "signed by someone else",
            redirect_url(
                &app,
                &format!("{} x", good("_p8")),
                None,
                Some(&TestSp::new()),
                RSA_SHA256,
            ),
        ),
    ];
    for (case, url) in pages {
        let response = app.browser().get(&url).await;
        if case == "a DOCTYPE" {
            // Refused before any XML parser sees it.
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
            continue;
        }
        assert!(refusal(&app, response).await.is_none(), "{case}: a page");
    }
    // HTTP-POST: a signing SP's malformed document cannot be verified: a page.
    let posted_twice = format!("{}{}", good("_p9"), good("_p9b"));
    let response = app
        .browser()
        .post_cross_site(
            &sso(&app),
            "https://sp.example",
            &[("SAMLRequest", STANDARD.encode(&posted_twice))],
        )
        .await;
    assert!(refusal(&app, response).await.is_none());
}

#[tokio::test]
async fn a_malformed_request_from_an_sp_that_does_not_sign_gets_a_requester_status_by_either_binding()
 {
    let (app, _) = setup(None, |_| {}).await;
    let xml = format!(
        "{}<samlp:AuthnRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>",
        authn_request(&app, "_n1", "", "")
    );
    let redirect = app
        .browser()
        .get(&redirect_url(&app, &xml, Some("r-1"), None, RSA_SHA256))
        .await;
    assert!(refusal(&app, redirect).await.is_some());
    let post = app
        .browser()
        .post_cross_site(
            &sso(&app),
            "https://sp.example",
            &[("SAMLRequest", STANDARD.encode(&xml))],
        )
        .await;
    assert_eq!(
        post.status(),
        StatusCode::OK,
        "answered at once, at the ACS"
    );
    let answer = refusal(&app, post).await.unwrap();
    assert!(answer.contains("InResponseTo=\"_n1\""), "{answer}");
}

#[tokio::test]
async fn single_logout_requests_are_read_strictly() {
    let sp = TestSp::new();
    let (app, _) = setup(Some(&sp), |_| {}).await;
    let browser = app.browser();
    let url = redirect_url(
        &app,
        &authn_request(&app, "_s1", "", ""),
        None,
        Some(&sp),
        RSA_SHA256,
    );
    let (format, name_id) = asserted_name_id(&app, sign_in(&browser, &url).await).await;
    let logout = |xml: String| {
        let mut query = format!(
            "SAMLRequest={}&SigAlg={}",
            enc(&deflate(&xml)),
            enc(RSA_SHA256)
        );
        let signature = Signer::new(MessageDigest::sha256(), &sp.key)
            .unwrap()
            .sign_oneshot_to_vec(query.as_bytes())
            .unwrap();
        query.push_str(&format!("&Signature={}", enc(&STANDARD.encode(signature))));
        format!("{}/saml/slo?{query}", app.issuer("contoso"))
    };
    let request = |name_id_element: &str| {
        format!(
            r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lo" Version="2.0" IssueInstant="{}" Destination="{}/saml/slo"><saml:Issuer>{SP}</saml:Issuer>{name_id_element}</samlp:LogoutRequest>"#,
            now(),
            app.issuer("contoso")
        )
    };
    let proper = format!("<saml:NameID Format=\"{format}\">{name_id}</saml:NameID>");
    for (case, xml) in [
        (
            "a second root",
            format!("{}{}", request(&proper), request(&proper)),
        ),
        ("text after the root", format!("{} x", request(&proper))),
        (
            "a NameID in a foreign namespace",
            request(&format!(
                "<evil:NameID xmlns:evil=\"urn:evil\">{name_id}</evil:NameID>"
            )),
        ),
        (
            "a LogoutRequest in a foreign namespace",
            request(&proper)
                .replacen(
                    "<samlp:LogoutRequest ",
                    "<evil:LogoutRequest xmlns:evil=\"urn:evil\" ",
                    1,
                )
                .replace("</samlp:LogoutRequest>", "</evil:LogoutRequest>"),
        ),
    ] {
        let response = browser.get(&logout(xml)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
        let html = response.text().await.unwrap();
        assert!(html.contains("not well-formed SAML"), "{case}: {html}");
    }
    // Still signed in; the proper request signs out.
    let response = browser.get(&logout(request(&proper))).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let encoded =
        crate::helpers::query_param(&location(&response).unwrap(), "SAMLResponse").unwrap();
    let answer = gatehouse::samlxml::xml::decode_redirect(&encoded).unwrap();
    assert!(answer.contains("status:Success"), "{answer}");
}
