"""Gatehouse SAML conformance: python3-saml (OneLogin) as the service provider.

The protocol work is python3-saml's: OneLogin_Saml2_IdPMetadataParser reads Gatehouse's
metadata (both signing certificates), OneLogin_Saml2_Auth.login() builds and signs the
HTTP-Redirect AuthnRequest (RSA-SHA256 over SAMLRequest&RelayState&SigAlg), process_response()
validates the Response in strict mode (schema, Destination, Audience, Issuer, InResponseTo,
times, SubjectConfirmation, requested AuthnContext, Response AND Assertion signatures, no
deprecated algorithms), and logout()/process_slo() run SP-initiated single logout with a signed
LogoutRequest and a signed LogoutResponse. The only hand-written parts are the browser (see
common.py) and the tampering.

The app is registered with --saml-requests-signed, the SP certificate, --saml-sign-response and
an SLO URL, so wantMessagesSigned and wantAssertionsSigned are both on.

Usage: python python3_saml_sp.py CONFIG.json   (written by ../run.sh)
"""

from __future__ import annotations

import copy
import time
from urllib.parse import parse_qs, urlencode, urlsplit

from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.errors import OneLogin_Saml2_Error, OneLogin_Saml2_ValidationError
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

import common
from common import check, check_equal, fail, ok, step


def settings_for(cfg: dict, app: dict, idp: dict, **security) -> dict:
    with open(app["cert_file"], encoding="ascii") as f:
        sp_cert = f.read()
    with open(app["key_file"], encoding="ascii") as f:
        sp_key = f.read()
    strict = {
        "authnRequestsSigned": True,
        "logoutRequestSigned": True,
        "logoutResponseSigned": True,
        "wantMessagesSigned": True,
        "wantAssertionsSigned": True,
        "wantAssertionsEncrypted": False,
        "wantNameId": True,
        "wantNameIdEncrypted": False,
        "wantAttributeStatement": True,
        "requestedAuthnContext": [common.PPT],
        "requestedAuthnContextComparison": "exact",
        "failOnAuthnContextMismatch": True,
        "signatureAlgorithm": C.RSA_SHA256,
        "digestAlgorithm": C.SHA256,
        "rejectDeprecatedAlgorithm": True,
        "wantXMLValidation": True,
        "allowRepeatAttributeName": False,
        "rejectUnsolicitedResponsesWithInResponseTo": True,
    }
    strict.update(security)
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": app["entity_id"],
            "assertionConsumerService": {"url": app["acs"], "binding": C.BINDING_HTTP_POST},
            "singleLogoutService": {"url": app["slo"], "binding": C.BINDING_HTTP_REDIRECT},
            "NameIDFormat": common.NAMEID_PERSISTENT,
            "x509cert": sp_cert,
            "privateKey": sp_key,
        },
        "idp": copy.deepcopy(idp),
        "security": strict,
    }


def request_data(url: str, post: dict | None = None, query: str | None = None) -> dict:
    """What a web framework would hand python3-saml for a request to `url`."""
    u = urlsplit(url)
    https = u.scheme == "https"
    data = {
        "https": "on" if https else "off",
        "http_host": u.hostname,
        "server_port": str(u.port or (443 if https else 80)),
        "script_name": u.path,
        "get_data": {},
        "post_data": post or {},
    }
    if query is not None:
        data["get_data"] = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        data["query_string"] = query
        data["validate_signature_from_qs"] = True  # verify over the query exactly as Gatehouse sent it
    return data


def process(settings: dict, app: dict, fields: dict, request_id: str | None):
    """Runs python3-saml on a posted form; returns (auth, error or None)."""
    auth = OneLogin_Saml2_Auth(request_data(app["acs"], post=fields), settings)
    try:
        auth.process_response(request_id=request_id)
    except (OneLogin_Saml2_Error, OneLogin_Saml2_ValidationError) as err:
        return auth, f"{type(err).__name__}: {err}"
    if auth.get_errors() or not auth.is_authenticated():
        return auth, f"{auth.get_errors()}: {auth.get_last_error_reason()}"
    return auth, None


def expect_valid(settings, app, fields, request_id, message):
    auth, error = process(settings, app, fields, request_id)
    if error:
        fail(f"{message}: python3-saml (strict) rejected a genuine Gatehouse Response: {error}",
             common.excerpt(fields.get("SAMLResponse", "")))
    ok(f"{message}: python3-saml strict mode accepted the Response")
    return auth


def expect_rejected(settings, app, fields, request_id, message, reason_contains: str | None = None) -> str:
    auth, error = process(settings, app, fields, request_id)
    if error is None:
        fail(f"{message}: python3-saml ACCEPTED it", {"nameid": auth.get_nameid(),
                                                      "email": auth.get_attribute(common.ATTR_EMAIL)})
    if reason_contains and reason_contains not in error:
        fail(f"{message}: rejected, but not for the expected reason ({reason_contains})", error)
    ok(f"{message}: rejected ({error[:150]})")
    return error


def sp_start(settings: dict, app: dict, **login):
    auth = OneLogin_Saml2_Auth(request_data(app["acs"]), settings)
    url = auth.login(**login)
    return url, auth.get_last_request_id()


def main(cfg: dict) -> None:
    app = cfg["apps"]["python3-saml"]
    user = cfg["user"]

    step("IdP metadata through OneLogin_Saml2_IdPMetadataParser")
    # A node started on a new database signs with its first key at once and publishes the next
    # one a moment later (one RSA key generation): give it a few seconds to appear.
    deadline = time.monotonic() + 10
    while True:
        metadata = common.fetch_metadata(cfg)
        certs = OneLogin_Saml2_IdPMetadataParser.parse(metadata)["idp"].get("x509certMulti", {})
        if len(certs.get("signing", [])) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    valid = OneLogin_Saml2_XML.validate_xml(metadata, "saml-schema-metadata-2.0.xsd")
    check(not isinstance(valid, str), "the metadata is valid against saml-schema-metadata-2.0.xsd", valid)
    parsed = OneLogin_Saml2_IdPMetadataParser.parse(metadata)
    idp = parsed["idp"]
    check_equal(idp["entityId"], cfg["issuer"], "entityID is the tenant issuer")
    check_equal(idp["singleSignOnService"]["url"], cfg["sso_url"], "HTTP-Redirect SSO endpoint")
    check_equal(idp["singleLogoutService"]["url"], cfg["slo_url"], "HTTP-Redirect SLO endpoint")
    signing = idp.get("x509certMulti", {}).get("signing", [])
    check_equal(len(signing), 2, "two signing certificates (active and next key) in x509certMulti")
    settings = settings_for(cfg, app, idp)

    step("SP-initiated sign-in, HTTP-Redirect binding, AuthnRequest signed by python3-saml (RSA-SHA256)")
    relay = "/after?q=1&x=%2F~ä"
    url, request_id = sp_start(settings, app, return_to=relay)
    sent = parse_qs(urlsplit(url).query)
    check_equal(sent.get("SigAlg"), [C.RSA_SHA256], "python3-saml signed the query with RSA-SHA256")
    browser = common.Browser(cfg)
    outcome = common.expect_post_to(browser.run("GET", url), app["acs"], "sign-in")
    check(outcome.login_pages >= 2, "the user went through the e-mail and password pages")
    check_equal(outcome.fields.get("RelayState"), relay, "RelayState echoed byte for byte (I3)")
    first_fields = dict(outcome.fields)
    facts = common.response_facts(outcome.xml)
    check(facts["response_signed"], "the Response carries its own signature (--saml-sign-response)")
    auth = expect_valid(settings, app, outcome.fields, request_id, "genuine Response")
    name_id = auth.get_nameid()
    check_equal(auth.get_nameid_format(), common.NAMEID_PERSISTENT, "NameID format is persistent")
    check(name_id and name_id != user["email"] and "@" not in name_id, "NameID is opaque, not the e-mail address",
          name_id)
    check_equal(name_id, facts["name_id"], "python3-saml's NameID is the one in the assertion")
    attributes = auth.get_attributes()
    check_equal(attributes.get(common.ATTR_EMAIL), [user["email"]], "email attribute")
    check_equal(attributes.get(common.ATTR_DISPLAY), [user["name"]],
                "displayname with markup characters arrives unchanged (I5)")
    check_equal(attributes.get(common.ATTR_GIVEN), [user["given_name"]], "givenname attribute")
    check_equal(attributes.get(common.ATTR_SURNAME), [user["family_name"]], "surname attribute (I5)")
    check_equal(attributes.get(common.ATTR_UPN), [user["email"]], "name (UPN) attribute")
    check_equal(attributes.get(common.ATTR_TENANT), [cfg["tenant"]["id"]], "tenantid attribute")
    check_equal(attributes.get(common.ATTR_OID), [user["id"]], "objectidentifier attribute")
    check(attributes.get(common.ATTR_AMR), "authnmethodsreferences attribute present")
    session_index = auth.get_session_index()
    check(bool(session_index), "SessionIndex present", session_index)
    check_equal(session_index, facts["session_index"], "python3-saml's SessionIndex is the assertion's")
    check_equal(auth.get_last_response_in_response_to(), request_id, "InResponseTo is the AuthnRequest ID")
    check_equal(auth.get_last_authn_contexts(), [common.PPT], "AuthnContextClassRef PasswordProtectedTransport")

    step("the same Response against a wrong expectation")
    expect_rejected(settings, app, first_fields, "_" + "0" * 40, "InResponseTo of another AuthnRequest",
                    "InResponseTo")
    attacker_key, attacker_cert = common.attacker_keypair(cfg["work"])
    with open(attacker_cert, encoding="ascii") as f:
        wrong_idp = dict(idp, x509cert=f.read())
    wrong_idp.pop("x509certMulti", None)
    expect_rejected(settings_for(cfg, app, wrong_idp), app, first_fields, request_id,
                    "negative control: python3-saml trusting another IdP certificate")
    other_sp = settings_for(cfg, dict(app, entity_id=app["entity_id"] + "/other"), idp)
    expect_rejected(other_sp, app, first_fields, request_id, "Audience of another SP", "audience")

    step("tampered copies of the Response (each must be rejected)")
    for label, tamper in common.tampers(facts):
        fields = dict(first_fields, SAMLResponse=common.b64(tamper(outcome.xml)))
        expect_rejected(settings, app, fields, request_id, label)
    resigned = common.tamper_resigned_by_attacker(outcome.xml, attacker_key, attacker_cert)
    expect_rejected(settings, app, dict(first_fields, SAMLResponse=common.b64(resigned)), request_id,
                    "assertion re-signed by an attacker key with its certificate in KeyInfo")
    untouched = common.to_xml(common.parse_xml(outcome.xml))
    expect_valid(settings, app, dict(first_fields, SAMLResponse=common.b64(untouched)), request_id,
                 "control: the same Response re-serialised by lxml without changes")

    step("existing session: a second SP-initiated request is answered without a sign-in page")
    url, request_id2 = sp_start(settings, app, return_to="again")
    outcome2 = common.expect_post_to(browser.run("GET", url), app["acs"], "silent sign-in")
    check_equal(outcome2.login_pages, 0, "no sign-in page with a live session")
    auth2 = expect_valid(settings, app, outcome2.fields, request_id2, "second Response")
    check_equal(auth2.get_nameid(), name_id, "same persistent NameID for the same SP")
    check_equal(auth2.get_session_index(), session_index, "same SessionIndex within one session")

    step("ForceAuthn (I6): a live session is not enough")
    url, request_id3 = sp_start(settings, app, return_to="force", force_authn=True)
    outcome3 = common.expect_post_to(browser.run("GET", url), app["acs"], "ForceAuthn sign-in")
    check(outcome3.login_pages >= 1, "ForceAuthn made the user authenticate again", outcome3.trail)
    expect_valid(settings, app, outcome3.fields, request_id3, "ForceAuthn Response")

    step("IsPassive with a live session: answered without any page")
    url, request_id_p = sp_start(settings, app, return_to="passive-ok", is_passive=True)
    outcome_p = common.expect_post_to(browser.run("GET", url, sign_in=False), app["acs"], "IsPassive request")
    check_equal(outcome_p.login_pages, 0, "no sign-in page")
    expect_valid(settings, app, outcome_p.fields, request_id_p, "IsPassive Response")

    step("RequestedAuthnContext that cannot be met (I6): a smartcard, which Gatehouse has no method for")
    mfa = settings_for(cfg, app, idp, requestedAuthnContext=[common.UNMEETABLE_CONTEXT])
    url, request_id4 = sp_start(mfa, app, return_to="mfa")
    outcome4 = common.expect_post_to(browser.run("GET", url), app["acs"], "MFA request")
    facts4 = common.response_facts(outcome4.xml)
    check_equal(facts4["status"], [common.STATUS_RESPONDER, common.STATUS_NO_AUTHN_CONTEXT],
                "status Responder / NoAuthnContext, never a weaker assertion")
    check("assertion_id" not in facts4, "no assertion in the error Response")
    check_equal(facts4["in_response_to"], request_id4, "the error Response answers the request")
    expect_rejected(mfa, app, outcome4.fields, request_id4, "python3-saml surfaces the error status",
                    "was Responder")

    step("IsPassive without a session: NoPassive, and no sign-in page")
    url, request_id5 = sp_start(settings, app, return_to="passive", is_passive=True)
    outcome5 = common.expect_post_to(common.Browser(cfg).run("GET", url, sign_in=False), app["acs"],
                                     "IsPassive request")
    check_equal(outcome5.login_pages, 0, "no sign-in page was shown")
    facts5 = common.response_facts(outcome5.xml)
    check_equal(facts5["status"][-1], "urn:oasis:names:tc:SAML:2.0:status:NoPassive", "NoPassive status")
    expect_rejected(settings, app, outcome5.fields, request_id5, "python3-saml refuses the NoPassive Response",
                    "was Responder")

    step("AuthnRequests Gatehouse must refuse (I1, I2, I3)")
    unsigned = settings_for(cfg, app, idp, authnRequestsSigned=False)
    url, _ = sp_start(unsigned, app, return_to="unsigned")
    common.expect_error_page(browser.run("GET", url), "unsigned AuthnRequest for an SP that signs its requests")
    url, _ = sp_start(settings, app, return_to="tampered")
    common.expect_error_page(browser.run("GET", url.replace("RelayState=tampered", "RelayState=tamperee")),
                             "RelayState changed after signing")
    sha1 = settings_for(cfg, app, idp, signatureAlgorithm=C.RSA_SHA1)
    url, _ = sp_start(sha1, app, return_to="sha1")
    check_equal(parse_qs(urlsplit(url).query).get("SigAlg"), [C.RSA_SHA1], "python3-saml signed with RSA-SHA1")
    common.expect_error_page(browser.run("GET", url), "AuthnRequest signed with RSA-SHA1 (not on the allow-list)")
    evil_acs = settings_for(cfg, dict(app, acs="https://evil.example/acs"), idp)
    url, _ = sp_start(evil_acs, app, return_to="evil")
    common.expect_error_page(browser.run("GET", url), "AssertionConsumerServiceURL not registered for the SP (I1)")
    stranger = settings_for(cfg, dict(app, entity_id="https://stranger.example/sp"), idp)
    url, _ = sp_start(stranger, app, return_to="stranger")
    common.expect_error_page(browser.run("GET", url), "AuthnRequest from an unknown Issuer (I2)")
    url, request_id6 = sp_start(settings, app, return_to="r" * 81)
    outcome6 = browser.run("GET", url)
    if outcome6.kind == "post":
        facts6 = common.response_facts(outcome6.xml)
        check(facts6["status"][0] != common.STATUS_SUCCESS and "assertion_id" not in facts6,
              "RelayState of 81 bytes: an error status, no assertion (I3)", facts6["status"])
        check("RelayState" not in outcome6.fields or len(outcome6.fields["RelayState"]) <= 80,
              "the over-long RelayState is not echoed")
    else:
        common.expect_error_page(outcome6, "RelayState of 81 bytes (I3)")

    step("IdP-initiated sign-in (unsolicited Response), accepted with no request ID")
    launch = f"{cfg['issuer']}/saml/launch/{app['client_id']}?" + urlencode({"RelayState": "idp-init"})
    outcome7 = common.expect_post_to(browser.run("GET", launch), app["acs"], "IdP-initiated launch")
    check_equal(outcome7.fields.get("RelayState"), "idp-init", "RelayState of the launch")
    facts7 = common.response_facts(outcome7.xml)
    check(facts7["in_response_to"] is None, "an unsolicited Response has no InResponseTo")
    auth7 = expect_valid(settings, app, outcome7.fields, None, "unsolicited Response")
    check_equal(auth7.get_nameid(), name_id, "same NameID as SP-initiated")

    step("SP-initiated single logout: signed LogoutRequest (Redirect), signed LogoutResponse")
    unsigned_logout = OneLogin_Saml2_Auth(request_data(app["slo"]),
                                          settings_for(cfg, app, idp, logoutRequestSigned=False))
    url = unsigned_logout.logout(return_to="bye", name_id=name_id, session_index=session_index,
                                 name_id_format=common.NAMEID_PERSISTENT)
    common.expect_error_page(browser.run("GET", url, stop_at=app["slo"]),
                             "an unsigned LogoutRequest from an SP with a certificate is refused")
    url, _ = sp_start(settings, app, return_to="still")
    check_equal(browser.run("GET", url, sign_in=False).kind, "post", "the session survived the refused logout")
    sp = OneLogin_Saml2_Auth(request_data(app["slo"]), settings)
    logout_url = sp.logout(return_to="bye", name_id=name_id, session_index=session_index,
                           name_id_format=common.NAMEID_PERSISTENT, nq=cfg["issuer"], spnq=app["entity_id"])
    logout_id = sp.get_last_request_id()
    check_equal(parse_qs(urlsplit(logout_url).query).get("SigAlg"), [C.RSA_SHA256],
                "python3-saml signed the LogoutRequest")
    end = browser.run("GET", logout_url, stop_at=app["slo"])
    check_equal(end.kind, "redirect", "Gatehouse redirects to the SP's SLO endpoint")
    query = urlsplit(end.url).query
    back = OneLogin_Saml2_Auth(request_data(app["slo"], query=query), settings)
    back.process_slo(keep_local_session=True, request_id=logout_id)
    if back.get_errors():
        fail("python3-saml rejected the LogoutResponse", {"errors": back.get_errors(),
                                                          "reason": back.get_last_error_reason()})
    ok("python3-saml validated the LogoutResponse (signature over the query, InResponseTo, Issuer, "
       "Destination, Success)")
    tampered_query = query.replace("RelayState=bye", "RelayState=byf")
    bad = OneLogin_Saml2_Auth(request_data(app["slo"], query=tampered_query), settings)
    bad.process_slo(keep_local_session=True, request_id=logout_id)
    check(bad.get_errors(), "a LogoutResponse query changed after signing is rejected", bad.get_errors())
    url, _ = sp_start(settings, app, return_to="after-logout")
    after = browser.run("GET", url, sign_in=False)
    check_equal(after.kind, "login", "after SLO the next request shows the sign-in page again")


if __name__ == "__main__":
    common.run_main(main, "python3-saml")
