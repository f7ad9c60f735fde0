//! Partner SAML 2.0 IdPs as guests' home IdPs (SECURITY.md G.51–55 and the SP-side SAML
//! checks of part (c)): the test plays the partner IdP with its own RSA key, signing its
//! Responses with xmlsec (through samael) and posting them to the tenant's ACS as the
//! browser would. Registration by metadata (document or URL), redemption bound to
//! (entityID, persistent NameID) only for an address in a domain the IdP serves, home-realm
//! discovery, and every forged, stale, wrapped, replayed or not strictly well-formed response
//! refused.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use samael::crypto::{Crypto, CryptoProvider};
use serde_json::json;

use crate::b2b::{APP_ORIGIN, World, follow, id_claims, invitation_landing, submit};
use crate::helpers::{Browser, Pkce, location, query_param};

const ENTITY: &str = "https://idp.fabrikam.example/saml";
const SSO: &str = "https://idp.fabrikam.example/sso";
const DAVE: &str = "dave@fabrikam.example";
const DAVE_ID: &str = "f3a1c2d4-dave";
const EVE_ID: &str = "9b8e7d6c-eve";
const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const MFA_CLASS: &str = "https://refeds.org/profile/mfa";

/// The partner's IdP: a signing key and the certificate its metadata publishes.
struct TestIdp {
    key_der: Vec<u8>,
    certificate: String,
}

impl TestIdp {
    fn new() -> Self {
        let key = openssl::rsa::Rsa::generate(2048).unwrap();
        let key_der = key.private_key_to_der().unwrap();
        let cert =
            gatehouse::keys::certificate::self_signed(&key_der, "idp", 1_790_000_000).unwrap();
        Self {
            key_der,
            certificate: STANDARD.encode(cert),
        }
    }

    fn metadata(&self) -> String {
        format!(
            r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{ENTITY}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>{PERSISTENT}</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{SSO}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#,
            self.certificate
        )
    }

    /// A Response to `flow` stating `answer`, its assertion signed as `answer.signature` says.
    fn response(&self, flow: &Flow, answer: &Answer) -> String {
        let assertion = self.assertion(flow, answer);
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_resp{}" Version="2.0" IssueInstant="{}" Destination="{}" InResponseTo="{}"><saml:Issuer>{ENTITY}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{}"/></samlp:Status>{}</samlp:Response>"#,
            uuid::Uuid::new_v4().simple(),
            instant(answer.issued),
            answer.recipient.as_deref().unwrap_or(&flow.acs),
            answer.in_response_to.as_deref().unwrap_or(&flow.request_id),
            answer
                .status
                .unwrap_or("urn:oasis:names:tc:SAML:2.0:status:Success"),
            if answer.status.is_some() {
                String::new()
            } else {
                assertion
            },
        )
    }

    /// The Assertion alone (signed unless `answer.signature` is `None`).
    fn assertion(&self, flow: &Flow, answer: &Answer) -> String {
        let id = answer.assertion_id.clone();
        let signature = match answer.signature {
            Some((method, digest)) => format!(
                r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{method}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##,
                self.certificate
            ),
            None => String::new(),
        };
        let in_response_to = answer.in_response_to.as_deref().unwrap_or(&flow.request_id);
        let recipient = answer.recipient.as_deref().unwrap_or(&flow.acs);
        let audience = answer.audience.as_deref().unwrap_or(&flow.audience);
        let valid_until = instant(answer.issued + 300);
        let mail = answer
            .email
            .as_deref()
            .map(|m| format!(r#"<saml:AttributeStatement><saml:Attribute Name="mail"><saml:AttributeValue>{m}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>"#))
            .unwrap_or_default();
        let name_id_tag = if answer.foreign_name_id {
            r#"evil:NameID xmlns:evil="urn:evil""#
        } else {
            "saml:NameID"
        };
        let name_id_end = if answer.foreign_name_id {
            "evil:NameID"
        } else {
            "saml:NameID"
        };
        let unsigned = format!(
            r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{}"><saml:Issuer>{ENTITY}</saml:Issuer>{signature}<saml:Subject><{name_id_tag} Format="{}">{}</{name_id_end}><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="{in_response_to}" NotOnOrAfter="{valid_until}" Recipient="{recipient}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{}" NotOnOrAfter="{valid_until}"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{}" SessionIndex="_s1"><saml:AuthnContext><saml:AuthnContextClassRef>{}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>{mail}</saml:Assertion>"#,
            instant(answer.issued),
            answer.name_id_format,
            answer.name_id,
            instant(answer.issued - 60),
            instant(answer.issued),
            answer.class_ref,
        );
        if answer.signature.is_none() {
            return unsigned;
        }
        let signed = Crypto::sign_xml(unsigned.as_bytes(), &self.key_der).unwrap();
        // xmlsec writes an XML declaration, which cannot sit inside the Response.
        match signed.strip_prefix("<?xml") {
            Some(rest) => rest[rest.find("?>").unwrap() + 2..].trim_start().to_owned(),
            None => signed,
        }
    }
}

fn instant(unix: i64) -> String {
    (chrono::DateTime::<Utc>::from_timestamp(unix, 0).unwrap())
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What the IdP answers.
#[derive(Clone)]
struct Answer {
    name_id: String,
    name_id_format: &'static str,
    email: Option<String>,
    assertion_id: String,
    issued: i64,
    class_ref: &'static str,
    status: Option<&'static str>,
    signature: Option<(&'static str, &'static str)>,
    in_response_to: Option<String>,
    recipient: Option<String>,
    audience: Option<String>,
    /// The IdP signs a NameID in a namespace that is not SAML's.
    foreign_name_id: bool,
}

impl Answer {
    fn for_user(name_id: &str, email: &str) -> Self {
        Self {
            name_id: name_id.to_owned(),
            name_id_format: PERSISTENT,
            email: Some(email.to_owned()),
            assertion_id: format!("_a{}", uuid::Uuid::new_v4().simple()),
            issued: Utc::now().timestamp(),
            class_ref: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
            status: None,
            signature: Some((RSA_SHA256, SHA256)),
            in_response_to: None,
            recipient: None,
            audience: None,
            foreign_name_id: false,
        }
    }
}

/// A sign-in waiting at the IdP: what the AuthnRequest said.
struct Flow {
    /// The whole redirect URL (SAMLRequest, RelayState, SigAlg, Signature).
    url: String,
    request_id: String,
    relay_state: String,
    acs: String,
    audience: String,
    force_authn: bool,
}

/// Reads the AuthnRequest the browser was sent to the IdP with.
fn flow_from(redirect: &reqwest::Response) -> Flow {
    let url = location(redirect).expect("sent to the IdP");
    assert!(url.starts_with(SSO), "sent to the partner's SSO: {url}");
    let encoded = query_param(&url, "SAMLRequest").unwrap();
    let xml = gatehouse::samlxml::xml::decode_redirect(&encoded).unwrap();
    let attribute = |name: &str| {
        let key = format!("{name}=\"");
        let at = xml.find(&key).unwrap_or_else(|| panic!("{name} in {xml}")) + key.len();
        xml[at..at + xml[at..].find('"').unwrap()].to_owned()
    };
    let issuer_start = xml.find("Issuer").unwrap();
    let issuer = &xml[issuer_start..];
    let issuer = &issuer[issuer.find('>').unwrap() + 1..issuer.find("</").unwrap()];
    assert!(
        xml.contains(PERSISTENT),
        "asks for a persistent NameID: {xml}"
    );
    let request_id = attribute("ID");
    assert!(request_id.len() >= 22, "an unguessable request ID");
    assert_eq!(
        query_param(&url, "SigAlg").as_deref(),
        Some("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
        "the AuthnRequest is signed (RSA-SHA256): {url}"
    );
    assert!(query_param(&url, "Signature").is_some());
    Flow {
        url: url.clone(),
        request_id,
        relay_state: query_param(&url, "RelayState").unwrap(),
        acs: attribute("AssertionConsumerServiceURL"),
        audience: issuer.to_owned(),
        force_authn: attribute("ForceAuthn") == "true",
    }
}

/// Posts a Response to the ACS from the IdP's page, as a browser would (cross-site).
async fn post_response(browser: &Browser, flow: &Flow, xml: &str) -> reqwest::Response {
    browser
        .post_cross_site(
            &flow.acs,
            "https://idp.fabrikam.example",
            &[
                ("SAMLResponse", STANDARD.encode(xml)),
                ("RelayState", flow.relay_state.clone()),
            ],
        )
        .await
}

/// The ACS's answer followed (its 303 to the continue URL) when it verified.
async fn answer(browser: &Browser, flow: &Flow, xml: &str) -> reqwest::Response {
    let posted = post_response(browser, flow, xml).await;
    if posted.status() != StatusCode::SEE_OTHER {
        return posted;
    }
    let next = location(&posted).unwrap();
    assert!(next.contains("/federation/saml/continue?handle="), "{next}");
    browser.get(&next).await
}

/// Contoso with Fabrikam's SAML IdP registered for fabrikam.example, by its metadata
/// document or (when `metadata_url`) its URL.
async fn world_with_saml_partner(
    idp: &TestIdp,
    metadata_url: Option<&str>,
    trust_mfa: bool,
) -> (World, String) {
    let world = World::new().await;
    let token = world.backend_token().await;
    let path = "identity/identityProviders";
    let mut body = json!({
        "@odata.type": "#microsoft.graph.samlOrWsFedExternalDomainFederation",
        "displayName": "Fabrikam",
        "domains": [{"id": "fabrikam.example"}],
        "trustMfa": trust_mfa,
        "mfaValues": [MFA_CLASS],
    });
    match metadata_url {
        Some(url) => body["metadataExchangeUri"] = json!(url),
        None => body["metadataXml"] = json!(idp.metadata()),
    }
    // Metadata with no signing certificate, or naming another entityID, is refused.
    let mut bad = body.clone();
    bad["metadataXml"] = json!(idp.metadata().replace(&idp.certificate, "AAAA"));
    bad.as_object_mut().unwrap().remove("metadataExchangeUri");
    let (status, answer) = world
        .call(Method::POST, path, Some(&token), Some(bad))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let mut other = body.clone();
    other["issuerUri"] = json!("https://idp.elsewhere.example");
    let (status, answer) = world
        .call(Method::POST, path, Some(&token), Some(other))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("entityID")
    );
    let (status, created) = world
        .call(Method::POST, path, Some(&token), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["@odata.type"],
        "#microsoft.graph.samlOrWsFedExternalDomainFederation"
    );
    assert_eq!(created["issuer"], ENTITY, "entityID read from the metadata");
    assert_eq!(
        created["domains"][0]["proof"], "idpHostInDomain",
        "the IdP's host lies in the domain"
    );
    (world, created["id"].as_str().unwrap().to_owned())
}

/// Invites `email` and opens the redemption in a fresh browser up to the IdP.
async fn redemption_at_idp(world: &World, email: &str, nth_mail: usize) -> (Browser, Flow) {
    let mail = world.smtp.wait_for(email, nth_mail).await;
    let browser = world.app.browser();
    let landing = invitation_landing(world, &browser, &mail).await;
    let to_idp = submit(&browser, &landing, &[]).await;
    let flow = flow_from(&to_idp);
    (browser, flow)
}

#[tokio::test]
async fn a_guest_redeems_at_a_saml_partner_and_signs_in_there_later() {
    let idp = TestIdp::new();
    let (world, _) = world_with_saml_partner(&idp, None, false).await;
    // The tenant's SP metadata names the ACS the requests carry.
    let metadata = world
        .app
        .api()
        .get(format!("{}/federation/saml/metadata", world.issuer()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metadata.contains(&format!(
        "entityID=\"{}/federation/saml/metadata\"",
        world.issuer()
    )));
    assert!(metadata.contains(&format!("{}/federation/saml/acs", world.issuer())));
    assert!(metadata.contains("AuthnRequestsSigned=\"true\""));
    let certificates: Vec<String> = metadata
        .split("<ds:X509Certificate>")
        .skip(1)
        .map(|rest| rest[..rest.find('<').unwrap()].to_owned())
        .collect();
    assert!(
        !certificates.is_empty(),
        "the SP metadata lists its signing certificates"
    );

    let token = world.backend_token().await;
    let invited = world.invite_to_app(&token, DAVE).await;
    let guest_id = invited["invitedUser"]["id"].as_str().unwrap().to_owned();
    let (browser, flow) = redemption_at_idp(&world, DAVE, 1).await;
    assert_eq!(flow.acs, format!("{}/federation/saml/acs", world.issuer()));
    // The request's signature verifies with the certificate of the SP metadata (what the IdP
    // does when it wants signed requests), and not once the request is altered.
    let verifies = |url: &str| {
        let url = url::Url::parse(url).unwrap();
        certificates.iter().any(|certificate| {
            let pem =
                format!("-----BEGIN CERTIFICATE-----\n{certificate}\n-----END CERTIFICATE-----\n");
            samael::crypto::UrlVerifier::from_x509_cert_pem(&pem)
                .unwrap()
                .verify_signed_request_url(&url)
                .unwrap_or(false)
        })
    };
    assert!(verifies(&flow.url), "{}", flow.url);
    assert!(!verifies(&flow.url.replace("RelayState=", "RelayState=x")));
    let good = Answer::for_user(DAVE_ID, DAVE);
    let response = idp.response(&flow, &good);
    let consent = follow(&browser, answer(&browser, &flow, &response).await).await;
    assert!(consent.contains("will receive"), "{consent}");
    let done = submit(&browser, &consent, &[("decision", "allow")]).await;
    assert_eq!(location(&done).unwrap(), format!("{APP_ORIGIN}/welcome"));
    let identities = world.app.state.store.identities(&guest_id).await.unwrap();
    assert_eq!(identities[0].issuer, ENTITY);
    assert_eq!(
        identities[0].issuer_assigned_id, DAVE_ID,
        "bound to the persistent NameID, not the address"
    );

    // Later: home-realm discovery sends Dave to the IdP, and back with tokens.
    let browser = world.app.browser();
    let pkce = Pkce::new();
    let url = world.web.authorize_url(
        &world.issuer(),
        "openid email",
        &pkce,
        &[("login_hint", DAVE), ("prompt", "login")],
    );
    let to_login = browser.get(&url).await;
    let to_idp = browser.get(&location(&to_login).unwrap()).await;
    let flow = flow_from(&to_idp);
    assert!(flow.force_authn, "prompt=login becomes ForceAuthn");
    let finished = answer(
        &browser,
        &flow,
        &idp.response(&flow, &Answer::for_user(DAVE_ID, DAVE)),
    )
    .await;
    let claims = id_claims(&world, &world.web, &finished, &pkce).await;
    assert_eq!(claims["oid"], guest_id);
    assert_eq!(claims["idp"], ENTITY);
    assert_eq!(claims["amr"], json!(["fed"]));

    // The first assertion again, inside a fresh sign-in: its ID was seen (replay cache).
    let browser = world.app.browser();
    let to_login = browser.get(&url).await;
    let to_idp = browser.get(&location(&to_login).unwrap()).await;
    let flow = flow_from(&to_idp);
    let mut replayed = good.clone();
    replayed.issued = Utc::now().timestamp();
    let refused = answer(&browser, &flow, &idp.response(&flow, &replayed)).await;
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "replayed assertion ID"
    );
    // And the same POST twice: the RelayState was single use.
    let again = post_response(
        &browser,
        &flow,
        &idp.response(&flow, &Answer::for_user(DAVE_ID, DAVE)),
    )
    .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}

/// Builds a forgery for a sign-in waiting at the IdP.
type Forger<'a> = dyn Fn(&Flow) -> Forgery + 'a;

/// A response that must be refused, what it is, and the reason the server must log.
struct Forgery {
    what: &'static str,
    xml: String,
    status: StatusCode,
    reason: &'static str,
}

#[tokio::test]
async fn forged_wrapped_stale_and_unsolicited_saml_responses_are_refused() {
    let idp = TestIdp::new();
    let (world, partner_id) = world_with_saml_partner(&idp, None, false).await;
    let token = world.backend_token().await;
    let invited = world.invite_to_app(&token, DAVE).await;
    let guest_id = invited["invitedUser"]["id"].as_str().unwrap().to_owned();
    let stranger = TestIdp::new();
    let mut nth = 0;
    let cases: Vec<Box<Forger>> = vec![
        Box::new(|flow| Forgery {
            what: "unsigned",
            xml: idp.response(
                flow,
                &Answer {
                    signature: None,
                    ..Answer::for_user(DAVE_ID, DAVE)
                },
            ),
            status: StatusCode::FORBIDDEN,
            reason: "signature not verified",
        }),
        Box::new(|flow| Forgery {
            what: "signed by a key not in the metadata",
            xml: stranger.response(flow, &Answer::for_user(DAVE_ID, DAVE)),
            status: StatusCode::FORBIDDEN,
            reason: "signature not verified",
        }),
        Box::new(|flow| Forgery {
            what: "SHA-1 signature and digest",
            xml: idp.response(
                flow,
                &Answer {
                    signature: Some((RSA_SHA1, SHA1)),
                    ..Answer::for_user(DAVE_ID, DAVE)
                },
            ),
            status: StatusCode::FORBIDDEN,
            reason: "signature not verified",
        }),
        Box::new(|flow| Forgery {
            what: "tampered after signing",
            xml: idp
                .response(flow, &Answer::for_user(EVE_ID, DAVE))
                .replace(EVE_ID, DAVE_ID),
            status: StatusCode::FORBIDDEN,
            reason: "signature not verified",
        }),
        Box::new(|flow| Forgery {
            what: "expired (issued an hour ago)",
            xml: idp.response(
                flow,
                &Answer {
                    issued: Utc::now().timestamp() - 3600,
                    ..Answer::for_user(DAVE_ID, DAVE)
                },
            ),
            status: StatusCode::FORBIDDEN,
            reason: "Assertion expired",
        }),
        Box::new(|flow| Forgery {
            what: "issued in the future",
            xml: idp.response(
                flow,
                &Answer {
                    issued: (Utc::now() + Duration::minutes(30)).timestamp(),
                    ..Answer::for_user(DAVE_ID, DAVE)
                },
            ),
            status: StatusCode::FORBIDDEN,
            reason: "not valid until",
        }),
        Box::new(|flow| Forgery {
            what: "answering another request (InResponseTo)",
            xml: idp.response(
                flow,
                &Answer {
                    in_response_to: Some("_someone_elses_request".into()),
                    ..Answer::for_user(DAVE_ID, DAVE)
                },
            ),
            status: StatusCode::FORBIDDEN,
            reason: "'InResponseTo' does not match",
        }),
        Box::new(|flow| Forgery {
            what: "for another SP (Audience)",
            xml: idp.response(
                flow,
                &Answer {
                    audience: Some("https://sp.elsewhere.example".into()),
                    ..Answer::for_user(DAVE_ID, DAVE)
                },
            ),
            status: StatusCode::FORBIDDEN,
            reason: "AudienceRequirement",
        }),
        Box::new(|flow| Forgery {
            what: "for another ACS (Recipient, Destination)",
            xml: idp.response(
                flow,
                &Answer {
                    recipient: Some("https://sp.elsewhere.example/acs".into()),
                    ..Answer::for_user(DAVE_ID, DAVE)
                },
            ),
            status: StatusCode::FORBIDDEN,
            reason: "Recipient does not match",
        }),
        Box::new(|flow| Forgery {
            what: "transient NameID",
            xml: idp.response(
                flow,
                &Answer {
                    name_id_format: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
                    ..Answer::for_user(DAVE_ID, DAVE)
                },
            ),
            status: StatusCode::FORBIDDEN,
            reason: "NameID is not persistent",
        }),
        Box::new(|flow| Forgery {
            what: "comment injected into the signed NameID",
            xml: idp
                .response(flow, &Answer::for_user(&format!("{DAVE_ID}.x"), DAVE))
                .replace(&format!("{DAVE_ID}.x"), &format!("{DAVE_ID}<!---->.x")),
            status: StatusCode::FORBIDDEN,
            reason: "contains an XML comment",
        }),
        Box::new(|flow| Forgery {
            what: "DOCTYPE",
            xml: format!(
                "<!DOCTYPE r [<!ENTITY e \"x\">]>{}",
                idp.response(flow, &Answer::for_user(DAVE_ID, DAVE))
            ),
            status: StatusCode::FORBIDDEN,
            reason: "DOCTYPE",
        }),
        Box::new(|flow| {
            // XSW: an unsigned assertion for Dave placed before Eve's signed one. Only the
            // signed (Eve's) assertion may be read: her address is not the invited one.
            let evil = idp.assertion(
                flow,
                &Answer {
                    signature: None,
                    ..Answer::for_user(DAVE_ID, DAVE)
                },
            );
            let signed = idp.response(flow, &Answer::for_user(EVE_ID, "eve@fabrikam.example"));
            Forgery {
                what: "XSW: unsigned assertion before the signed one",
                xml: signed.replacen("<saml:Assertion ", &format!("{evil}<saml:Assertion "), 1),
                status: StatusCode::FORBIDDEN,
                reason: "did not assert the invited address",
            }
        }),
        Box::new(|flow| {
            // XSW: the signed assertion moved into Extensions, an unsigned copy with the same
            // ID (saying Dave) where it was.
            let honest = Answer::for_user(EVE_ID, "eve@fabrikam.example");
            let signed_assertion = idp.assertion(flow, &honest);
            let evil = idp.assertion(
                flow,
                &Answer {
                    signature: None,
                    assertion_id: honest.assertion_id.clone(),
                    ..Answer::for_user(DAVE_ID, DAVE)
                },
            );
            let response = idp.response(
                flow,
                &Answer {
                    status: Some("PLACEHOLDER"),
                    ..honest
                },
            );
            let xml = response
                .replace("PLACEHOLDER", "urn:oasis:names:tc:SAML:2.0:status:Success")
                .replace(
                    "<samlp:Status>",
                    &format!(
                        "<samlp:Extensions>{signed_assertion}</samlp:Extensions><samlp:Status>"
                    ),
                )
                .replace("</samlp:Response>", &format!("{evil}</samlp:Response>"));
            Forgery {
                what: "XSW: signed assertion in Extensions, forged copy with its ID",
                xml,
                status: StatusCode::FORBIDDEN,
                reason: "signature not verified",
            }
        }),
        Box::new(|flow| {
            // XSW: the signed assertion nested inside a forged one; again only Eve's signed
            // assertion may be read.
            let signed_assertion =
                idp.assertion(flow, &Answer::for_user(EVE_ID, "eve@fabrikam.example"));
            let evil = idp.assertion(
                flow,
                &Answer {
                    signature: None,
                    ..Answer::for_user(DAVE_ID, DAVE)
                },
            );
            let wrapped = evil.replace(
                "</saml:Issuer>",
                &format!("</saml:Issuer><saml:Advice>{signed_assertion}</saml:Advice>"),
            );
            let response = idp.response(flow, &Answer::for_user(EVE_ID, "eve@fabrikam.example"));
            let start = response.find("<saml:Assertion ").unwrap();
            let end = response.rfind("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
            Forgery {
                what: "XSW: signed assertion nested in a forged one",
                xml: format!("{}{wrapped}{}", &response[..start], &response[end..]),
                status: StatusCode::FORBIDDEN,
                reason: "did not assert the invited address",
            }
        }),
        Box::new(|flow| Forgery {
            what: "a signed NameID in a foreign namespace",
            xml: idp.response(
                flow,
                &Answer {
                    foreign_name_id: true,
                    ..Answer::for_user(DAVE_ID, DAVE)
                },
            ),
            status: StatusCode::FORBIDDEN,
            reason: "not well-formed SAML",
        }),
        Box::new(|flow| Forgery {
            what: "a second root after the Response",
            xml: format!(
                "{}<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>",
                idp.response(flow, &Answer::for_user(DAVE_ID, DAVE))
            ),
            status: StatusCode::FORBIDDEN,
            reason: "not well-formed SAML",
        }),
        Box::new(|flow| Forgery {
            what: "text after the Response",
            xml: format!(
                "{}trailing",
                idp.response(flow, &Answer::for_user(DAVE_ID, DAVE))
            ),
            status: StatusCode::FORBIDDEN,
            reason: "not well-formed SAML",
        }),
        Box::new(|flow| Forgery {
            what: "a Response in a foreign namespace",
            xml: idp
                .response(flow, &Answer::for_user(DAVE_ID, DAVE))
                .replacen(
                    "<samlp:Response ",
                    "<evil:Response xmlns:evil=\"urn:evil\" ",
                    1,
                )
                .replace("</samlp:Response>", "</evil:Response>"),
            status: StatusCode::FORBIDDEN,
            reason: "not well-formed SAML",
        }),
        Box::new(|flow| Forgery {
            what: "an address in a domain the IdP does not serve",
            xml: idp.response(flow, &Answer::for_user(DAVE_ID, "dave@contoso.example")),
            status: StatusCode::FORBIDDEN,
            reason: "did not assert the invited address",
        }),
        Box::new(|flow| Forgery {
            what: "the IdP refuses (account disabled)",
            xml: idp.response(
                flow,
                &Answer {
                    status: Some("urn:oasis:names:tc:SAML:2.0:status:Responder"),
                    ..Answer::for_user(DAVE_ID, DAVE)
                },
            ),
            status: StatusCode::FORBIDDEN,
            reason: "refused the sign-in",
        }),
    ];
    for case in &cases {
        nth += 1;
        let (browser, flow) = redemption_at_idp(&world, DAVE, 1).await;
        let forgery = case(&flow);
        let before = crate::helpers::LOGS.lock().unwrap().len();
        let outcome = answer(&browser, &flow, &forgery.xml).await;
        let logs =
            String::from_utf8_lossy(&crate::helpers::LOGS.lock().unwrap()[before..]).to_string();
        assert!(
            logs.lines()
                .any(|l| l.contains(forgery.reason) && l.contains(&partner_id)),
            "{}: refused because {:?}; the log says {logs}",
            forgery.what,
            forgery.reason
        );
        assert_eq!(outcome.status(), forgery.status, "{}", forgery.what);
        let page = outcome.text().await.unwrap();
        assert!(
            !page.contains(DAVE_ID) && !page.contains(EVE_ID) && !page.contains("SAMLResponse"),
            "{}: nothing of the response is echoed",
            forgery.what
        );
    }
    assert_eq!(nth, cases.len());

    // Unsolicited: a response with no RelayState of ours (IdP-initiated) is refused.
    let (browser, flow) = redemption_at_idp(&world, DAVE, 1).await;
    let unsolicited = Flow {
        relay_state: String::new(),
        ..flow
    };
    let xml = idp.response(&unsolicited, &Answer::for_user(DAVE_ID, DAVE));
    let outcome = post_response(&browser, &unsolicited, &xml).await;
    assert_eq!(outcome.status(), StatusCode::BAD_REQUEST, "unsolicited");

    // Another browser cannot pick up a verified answer (transaction bound to the browser).
    let (victim, flow) = redemption_at_idp(&world, DAVE, 1).await;
    let posted = post_response(
        &victim,
        &flow,
        &idp.response(&flow, &Answer::for_user(DAVE_ID, DAVE)),
    )
    .await;
    let next = location(&posted).unwrap();
    let thief = world.app.browser();
    assert_eq!(thief.get(&next).await.status(), StatusCode::BAD_REQUEST);

    // Nothing was bound by any of it.
    assert!(
        world
            .app
            .state
            .store
            .identities(&guest_id)
            .await
            .unwrap()
            .iter()
            .all(|i| i.issuer != ENTITY),
        "no identity bound"
    );
}

/// A metadata URL served on loopback, whose document can change (certificate rollover);
/// also returns how many times it was fetched.
async fn metadata_server(
    document: Arc<Mutex<String>>,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metadata", listener.local_addr().unwrap());
    let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = fetches.clone();
    let app = axum::Router::new().route(
        "/metadata",
        axum::routing::get(move || {
            let document = document.clone();
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { document.lock().unwrap().clone() }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, fetches)
}

#[tokio::test]
async fn certificates_roll_over_through_the_metadata_url_and_trusted_mfa_counts() {
    let old = TestIdp::new();
    let document = Arc::new(Mutex::new(old.metadata()));
    let (url, fetches) = metadata_server(document.clone()).await;
    let (world, _) = world_with_saml_partner(&old, Some(&url), true).await;
    let token = world.backend_token().await;
    world.require_mfa_of_guests(&token).await;
    world.invite_to_app(&token, DAVE).await;

    // The IdP rolls its key over; its metadata URL publishes the new certificate. The first
    // response signed with the new key does not verify with the cached metadata, which is
    // fetched again.
    let new = TestIdp::new();
    let (browser, flow) = redemption_at_idp(&world, DAVE, 1).await;
    *document.lock().unwrap() = new.metadata();
    // A fresh assertion ID each time (the replay cache would refuse a repeated one).
    let trusted = || Answer {
        class_ref: MFA_CLASS,
        ..Answer::for_user(DAVE_ID, DAVE)
    };
    let consent = follow(
        &browser,
        answer(&browser, &flow, &new.response(&flow, &trusted())).await,
    )
    .await;
    assert!(
        consent.contains("will receive"),
        "trusted MFA at home: no TOTP challenge: {consent}"
    );
    submit(&browser, &consent, &[("decision", "allow")]).await;

    // The old key no longer verifies.
    let browser = world.app.browser();
    let pkce = Pkce::new();
    let authorize = world.web.authorize_url(
        &world.issuer(),
        "openid email",
        &pkce,
        &[("login_hint", DAVE)],
    );
    let to_login = browser.get(&authorize).await;
    let flow = flow_from(&browser.get(&location(&to_login).unwrap()).await);
    let before = fetches.load(std::sync::atomic::Ordering::SeqCst);
    let stale = answer(&browser, &flow, &old.response(&flow, &trusted())).await;
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    // The refetch a failed signature forces is rate-limited per partner: the rollover just
    // refetched, so stale or forged responses do not make Gatehouse fetch again.
    for _ in 0..3 {
        let browser = world.app.browser();
        let to_login = browser.get(&authorize).await;
        let flow = flow_from(&browser.get(&location(&to_login).unwrap()).await);
        let forged = answer(&browser, &flow, &old.response(&flow, &trusted())).await;
        assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(
        fetches.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "no metadata fetch per forged response"
    );

    // With the new key and MFA asserted: tokens carry mfa.
    let browser = world.app.browser();
    let to_login = browser.get(&authorize).await;
    let flow = flow_from(&browser.get(&location(&to_login).unwrap()).await);
    let finished = answer(&browser, &flow, &new.response(&flow, &trusted())).await;
    let claims = id_claims(&world, &world.web, &finished, &pkce).await;
    assert_eq!(claims["amr"], json!(["fed", "mfa"]));
    assert_eq!(claims["idp"], ENTITY);

    // Without MFA at home, Gatehouse's own second factor is asked for.
    let browser = world.app.browser();
    let to_login = browser.get(&authorize).await;
    let flow = flow_from(&browser.get(&location(&to_login).unwrap()).await);
    let single = answer(
        &browser,
        &flow,
        &new.response(&flow, &Answer::for_user(DAVE_ID, DAVE)),
    )
    .await;
    let page = follow(&browser, single).await;
    assert!(
        page.contains("authenticator") || page.contains("verification code"),
        "Gatehouse's own MFA step: {page}"
    );
}
