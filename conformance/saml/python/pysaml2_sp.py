"""Gatehouse SAML conformance: pysaml2 as the service provider.

pysaml2 is an independent SAML stack: it signs and verifies through the Debian xmlsec1 binary,
validates messages against its own schema classes, and keeps its own metadata store. Here:
- the app is registered at Gatehouse from the SP metadata pysaml2 generates (entity_descriptor),
  which says AuthnRequestsSigned and carries the SP signing certificate;
- Saml2Client.prepare_for_authenticate builds an AuthnRequest for the HTTP-POST binding with an
  enveloped XML signature (RSA-SHA256, SHA-256), posted to Gatehouse's SSO endpoint;
- parse_authn_request_response validates the Response: the Assertion signature against the
  metadata certificates only (want_assertions_signed), InResponseTo against the outstanding
  query ids, Destination against our ACS, Audience, Issuer, times;
- a second client with allow_unsolicited accepts an IdP-initiated launch.

Usage: python pysaml2_sp.py CONFIG.json
       python pysaml2_sp.py --write-metadata ENTITY_ID FILE_PREFIX   (SP metadata on stdout;
       FILE_PREFIX.key and FILE_PREFIX.crt are the SP key pair; used by ../run.sh)
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import sys
from urllib.parse import urlencode

import common
from common import check, check_equal, fail, ok, step

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

# pysaml2 logs every failed check at ERROR level; the suite reports rejections itself.
logging.getLogger("saml2").setLevel(logging.CRITICAL)


def xmlsec_binary() -> str:
    path = shutil.which("xmlsec1")
    if not path:
        raise SystemExit("xmlsec1 is not on PATH (Debian package xmlsec1)")
    return path


def sp_settings(entity_id: str, prefix: str, metadata_file: str | None = None, *,
                unsolicited: bool = False) -> dict:
    settings = {
        "entityid": entity_id,
        "xmlsec_binary": xmlsec_binary(),
        "crypto_backend": "xmlsec1",
        "key_file": prefix + ".key",
        "cert_file": prefix + ".crt",
        "allow_unknown_attributes": True,  # keep the Entra claim URIs as they are (PEERS.md)
        "only_use_keys_in_metadata": True,
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
        "service": {
            "sp": {
                "name": "pysaml2 conformance SP",
                "endpoints": {
                    "assertion_consumer_service": [(entity_id + "/acs", BINDING_HTTP_POST)],
                    "single_logout_service": [(entity_id + "/slo", BINDING_HTTP_REDIRECT)],
                },
                "authn_requests_signed": True,
                "logout_requests_signed": True,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "allow_unsolicited": unsolicited,
                "name_id_policy_format": NAMEID_FORMAT_PERSISTENT,
            }
        },
    }
    if metadata_file:
        settings["metadata"] = {"local": [metadata_file]}
    return settings


def client(entity_id: str, prefix: str, metadata_file: str, **kw) -> Saml2Client:
    config = SPConfig()
    config.load(sp_settings(entity_id, prefix, metadata_file, **kw))
    return Saml2Client(config)


def write_metadata(entity_id: str, prefix: str) -> None:
    config = SPConfig()
    config.load(sp_settings(entity_id, prefix))
    sys.stdout.write(str(entity_descriptor(config)))


def parse(sp: Saml2Client, saml_response: str, outstanding: dict):
    """Returns (response, error): pysaml2 raises or returns None when it refuses a Response."""
    try:
        resp = sp.parse_authn_request_response(saml_response, BINDING_HTTP_POST, outstanding=outstanding)
    except Exception as err:  # noqa: BLE001 - every pysaml2 refusal is an exception
        return None, f"{type(err).__name__}: {err}"
    if resp is None:
        return None, "parse_authn_request_response returned None"
    # pysaml2 7.5 trap: when StatusResponse._verify() fails softly (Destination not one of our
    # ACS URLs, InResponseTo mismatch) _parse_response ignores verify()'s None and hands back
    # the Response object with no assertion parsed. Without an assertion there is no identity:
    # that is pysaml2's refusal, and an SP must check for it.
    if resp.assertion is None or resp.name_id is None or resp.ava is None:
        return None, "parse_authn_request_response returned a Response with no verified assertion"
    return resp, None


def email_of(resp) -> list:
    return resp.ava.get(common.ATTR_EMAIL)


def expect_valid(sp, saml_response, outstanding, message):
    resp, error = parse(sp, saml_response, outstanding)
    if error:
        fail(f"{message}: pysaml2 rejected a genuine Gatehouse Response: {error}", common.excerpt(saml_response))
    ok(f"{message}: pysaml2 accepted the Response")
    return resp


def expect_rejected(sp, saml_response, outstanding, message) -> str:
    resp, error = parse(sp, saml_response, outstanding)
    if error is None:
        fail(f"{message}: pysaml2 ACCEPTED it", {"name_id": str(resp.name_id), "email": email_of(resp)})
    ok(f"{message}: rejected ({error[:150]})")
    return error


def start_post(cfg: dict, sp: Saml2Client, relay: str, **kw):
    """pysaml2 builds a signed AuthnRequest for the HTTP-POST binding; returns (id, form fields,
    action, the SP's page that posts it)."""
    request_id, info = sp.prepare_for_authenticate(
        entityid=cfg["issuer"], relay_state=relay, binding=BINDING_HTTP_POST, sign=True,
        sigalg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256, **kw)
    forms = common.parse_forms(info["data"], cfg["sso_url"])
    if len(forms) != 1 or "SAMLRequest" not in forms[0]["hidden"]:
        fail("pysaml2 did not produce an HTTP-POST form with a SAMLRequest", info)
    return request_id, forms[0]["hidden"], forms[0]["action"], common.sp_page(cfg["apps"]["pysaml2"], info["data"], info.get("headers"))


def main(cfg: dict) -> None:
    app = cfg["apps"]["pysaml2"]
    user = cfg["user"]
    prefix = os.path.splitext(app["cert_file"])[0]

    step("IdP metadata into pysaml2's metadata store")
    metadata = common.fetch_metadata(cfg)
    md_file = os.path.join(cfg["work"], "idp-metadata-pysaml2.xml")
    with open(md_file, "w", encoding="utf-8") as f:
        f.write(metadata)
    sp = client(app["entity_id"], prefix, md_file)
    check_equal(sp.metadata.single_sign_on_service(cfg["issuer"], BINDING_HTTP_POST)[0]["location"],
                cfg["sso_url"], "pysaml2 finds the HTTP-POST SSO endpoint")
    certs = sp.metadata.certs(cfg["issuer"], "idpsso", "signing")
    check_equal(len(certs), 2, "pysaml2 reads two signing certificates")
    check(app["requests_signed"], "Gatehouse took AuthnRequestsSigned from pysaml2's SP metadata")
    check_equal(app["acs"], app["entity_id"] + "/acs", "Gatehouse took the ACS from pysaml2's SP metadata")
    check_equal(app["slo"], app["entity_id"] + "/slo", "Gatehouse took the SLO endpoint from pysaml2's SP metadata")

    step("SP-initiated sign-in, HTTP-POST binding, AuthnRequest with an enveloped signature by pysaml2")
    request_id, form, action, page = start_post(cfg, sp, "pysaml2-relay")
    check_equal(action, cfg["sso_url"], "pysaml2 posts to Gatehouse's SSO endpoint")
    request = common.parse_xml(base64.b64decode(form["SAMLRequest"]))
    check(request.find("{%s}Signature" % common.NS["ds"]) is not None,
          "the AuthnRequest carries an enveloped XML signature")
    browser = common.Browser(cfg)
    outcome = common.expect_post_to(browser.run("POST", action, form, sp_page=page),
                                    app["acs"], "sign-in")
    check(outcome.login_pages >= 2, "the user went through the e-mail and password pages")
    check_equal(outcome.fields.get("RelayState"), "pysaml2-relay", "RelayState echoed")
    facts = common.response_facts(outcome.xml)
    check(not facts["response_signed"], "only the Assertion is signed for this SP")
    outstanding = {request_id: "/"}
    resp = expect_valid(sp, outcome.saml_response, outstanding, "genuine Response")
    check_equal(resp.in_response_to, request_id, "InResponseTo is pysaml2's request id")
    check_equal(resp.name_id.format, NAMEID_FORMAT_PERSISTENT, "NameID format is persistent")
    check_equal(resp.name_id.text, facts["name_id"], "pysaml2's NameID is the assertion's")
    check(resp.name_id.text != user["email"] and "@" not in resp.name_id.text, "NameID is opaque")
    check_equal(resp.name_id.sp_name_qualifier, app["entity_id"], "SPNameQualifier is this SP")
    check_equal(resp.name_id.name_qualifier, cfg["issuer"], "NameQualifier is the IdP")
    check_equal(email_of(resp), [user["email"]], "email attribute")
    check_equal(resp.ava.get(common.ATTR_DISPLAY), [user["name"]], "displayname with markup arrives unchanged (I5)")
    check_equal(resp.ava.get(common.ATTR_SURNAME), [user["family_name"]], "surname with markup (I5)")
    check_equal(resp.ava.get(common.ATTR_OID), [user["id"]], "objectidentifier attribute")
    statement = resp.assertion.authn_statement[0]
    check_equal(statement.session_index, facts["session_index"], "SessionIndex")
    check_equal(statement.authn_context.authn_context_class_ref.text, common.PPT, "AuthnContextClassRef")
    check_equal(resp.assertion.issuer.text, cfg["issuer"], "Assertion Issuer is the IdP entityID")
    check_equal(resp.response.issuer.text, cfg["issuer"], "Response Issuer is the IdP entityID")
    check_equal(resp.response.destination, app["acs"], "Destination is the ACS")
    audiences = [a.text for r in resp.assertion.conditions.audience_restriction for a in r.audience]
    check_equal(audiences, [app["entity_id"]], "Audience is this SP")

    step("the same Response against a wrong expectation")
    expect_rejected(sp, outcome.saml_response, {"_" + "0" * 40: "/"}, "no outstanding request with its InResponseTo")
    other = client(app["entity_id"] + "/other", prefix, md_file)
    expect_rejected(other, outcome.saml_response, outstanding, "another SP (Audience and Destination differ)")
    attacker_key, attacker_cert = common.attacker_keypair(cfg["work"])
    wrong_md = os.path.join(cfg["work"], "idp-metadata-wrong-cert.xml")
    with open(wrong_md, "w", encoding="utf-8") as f:
        f.write(common.replace_metadata_certs(metadata, attacker_cert))
    expect_rejected(client(app["entity_id"], prefix, wrong_md), outcome.saml_response, outstanding,
                    "negative control: pysaml2 trusting another IdP certificate")

    step("tampered copies of the Response (each must be rejected)")
    for label, tamper in common.tampers(facts):
        expect_rejected(sp, common.b64(tamper(outcome.xml)), outstanding, label)
    resigned = common.tamper_resigned_by_attacker(outcome.xml, attacker_key, attacker_cert)
    expect_rejected(sp, common.b64(resigned), outstanding,
                    "assertion re-signed by an attacker key with its certificate in KeyInfo")
    expect_valid(sp, common.b64(common.to_xml(common.parse_xml(outcome.xml))), outstanding,
                 "control: the same Response re-serialised by lxml without changes")

    step("a POST-binding request with a live session: the sign-in page is skipped")
    request_id2, form2, action2, page2 = start_post(cfg, sp, "again")
    outcome2 = common.expect_post_to(browser.run("POST", action2, form2, sp_page=page2),
                                     app["acs"], "second sign-in")
    check_equal(outcome2.login_pages, 0, "no sign-in page with a live session")
    resp2 = expect_valid(sp, outcome2.saml_response, {request_id2: "/"}, "second Response")
    check_equal(resp2.name_id.text, resp.name_id.text, "same persistent NameID for the same SP")

    step("POST-binding requests Gatehouse must refuse (I2)")
    _, form3, action3, page3 = start_post(cfg, sp, "tampered")
    request3 = common.parse_xml(base64.b64decode(form3["SAMLRequest"]))
    check(request3.find("{%s}Signature" % common.NS["ds"]) is not None, "the AuthnRequest is signed")
    request3.set("ForceAuthn", "true")  # any change under the signature
    altered = common.to_xml(request3)
    common.expect_error_page(browser.run("POST", action3, dict(form3, SAMLRequest=common.b64(altered)),
                                         sp_page=page3),
                             "AuthnRequest changed after pysaml2 signed it")
    _, info = sp.prepare_for_authenticate(entityid=cfg["issuer"], relay_state="unsigned",
                                          binding=BINDING_HTTP_POST, sign=False)
    form4 = common.parse_forms(info["data"], cfg["sso_url"])[0]
    common.expect_error_page(browser.run("POST", form4["action"], form4["hidden"],
                                         sp_page=common.sp_page(app, info["data"], info.get("headers"))),
                             "unsigned AuthnRequest for an SP whose metadata says AuthnRequestsSigned")

    step("IdP-initiated sign-in, accepted by a pysaml2 client with allow_unsolicited")
    launch = f"{cfg['issuer']}/saml/launch/{app['client_id']}?" + urlencode({"RelayState": "idp-init"})
    outcome5 = common.expect_post_to(browser.run("GET", launch), app["acs"], "IdP-initiated launch")
    expect_rejected(sp, outcome5.saml_response, outstanding,
                    "the default client (allow_unsolicited off) refuses the unsolicited Response")
    unsolicited = client(app["entity_id"], prefix, md_file, unsolicited=True)
    resp5 = expect_valid(unsolicited, outcome5.saml_response, {}, "unsolicited Response")
    check(resp5.in_response_to is None, "no InResponseTo")
    check_equal(resp5.name_id.text, resp.name_id.text, "same NameID as SP-initiated")
    check_equal(email_of(resp5), [user["email"]], "email attribute")
    expect_rejected(unsolicited, common.b64(common.tamper_email(outcome5.xml)), {},
                    "tampered unsolicited Response")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--write-metadata":
        write_metadata(sys.argv[2], sys.argv[3])
        sys.exit(0)
    common.run_main(main, "pysaml2")
