"""Gatehouse SAML conformance: the xmlsec1 command line as an outside signature oracle, plus the
SECURITY.md I4 output checks read straight off the XML.

xmlsec1 (Debian's, linked to OpenSSL) knows nothing about SAML: it is told which attribute is an
ID and which certificates it trusts, and says whether a signature verifies. That makes it a
clean oracle for "Gatehouse's signatures are standard XML-DSig that any stack can check", and
for "a changed byte under a signature is caught". It cannot say which assertion an SP would
consume, so signature-wrapping belongs to the SP-library suites, not here.

xmlsec1 verifies the FIRST <ds:Signature> it finds unless told otherwise. A Response signed at
both levels therefore gets two runs, each with --node-xpath pointing at one Signature element
(the Response's own, then the Assertion's).

The requests are made by hand (common.authn_request_xml), unsigned, by the HTTP-Redirect binding.

Usage: python xmlsec1_oracle.py CONFIG.json
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from datetime import datetime, timezone

import common
from common import NS, check, check_equal, fail, ok, step

ID_ATTRS = [
    "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response",
    "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
]
RESPONSE_SIGNATURE = "/*[local-name()='Response']/*[local-name()='Signature']"
ASSERTION_SIGNATURE = "/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
ID_PATTERN = re.compile(r"^_[0-9a-f]{32,}$")  # "_" and at least 128 random bits (hex)

_counter = 0
_counter_lock = threading.Lock()


class Oracle:
    def __init__(self, cfg: dict, pems: list[str]) -> None:
        self.binary = shutil.which("xmlsec1")
        if not self.binary:
            fail("xmlsec1 is not on PATH (Debian package xmlsec1)")
        self.dir = os.path.join(cfg["work"], "xmlsec1")
        os.makedirs(self.dir, exist_ok=True)
        self.pems = pems

    def verify(self, xml: str, xpath: str | None = None, pems: list[str] | None = None) -> tuple[bool, str]:
        """xmlsec1 --verify with the metadata certificates as the only trusted ones."""
        global _counter
        with _counter_lock:
            _counter += 1
            path = os.path.join(self.dir, f"doc-{_counter:04d}.xml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(xml)
        cmd = [self.binary, "--verify", *ID_ATTRS]
        for pem in pems if pems is not None else self.pems:
            cmd += ["--trusted-pem", pem]
        if xpath:
            cmd += ["--node-xpath", xpath]
        cmd.append(path)
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        output = (run.stdout + run.stderr).strip()
        return run.returncode == 0, output

    def signatures(self, xml: str) -> list[tuple[str, str | None]]:
        """The signatures of a Response, each with the --node-xpath that selects it."""
        facts = common.response_facts(xml)
        if facts["response_signed"]:
            return [("Response signature", RESPONSE_SIGNATURE), ("Assertion signature", ASSERTION_SIGNATURE)]
        return [("Assertion signature", None)]  # the only Signature: the plain command finds it

    def expect_valid(self, xml: str, label: str) -> None:
        for name, xpath in self.signatures(xml):
            good, output = self.verify(xml, xpath)
            if not good:
                fail(f"{label}: xmlsec1 does not verify the {name} of a genuine Response", output[-1500:])
            ok(f"{label}: xmlsec1 --verify OK on the {name}")

    def expect_invalid(self, xml: str, label: str, xpath: str | None = None, why: str = "reference") -> None:
        """why: "reference" (a digest no longer matches: the content changed under the signature)
        or "certificate" (the signing certificate is not one of the trusted ones)."""
        good, output = self.verify(xml, xpath)
        if good:
            fail(f"{label}: xmlsec1 still verifies the tampered copy", output[-800:])
        errors = re.findall(r"error=\d+:([^\n]*)", output)
        refs = re.search(r"SignedInfo References \(ok/all\): (\d+)/(\d+)", output)
        if why == "reference":
            check(refs is not None and refs.group(1) != refs.group(2),
                  f"{label}: xmlsec1 fails on the REFERENCE (references ok {refs.group(1) if refs else '?'}/"
                  f"{refs.group(2) if refs else '?'}: {errors[0].strip()[:60] if errors else ''})", output[-800:])
        else:
            check(any("x509" in e.lower() or "certificate" in e.lower() for e in errors) or "x509" in output.lower(),
                  f"{label}: xmlsec1 fails on the certificate ({errors[0].strip()[:70] if errors else ''})",
                  output[-800:])


def instant(value: str) -> datetime:
    if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", value or "") is None:
        fail(f"time {value!r} is not an xs:dateTime in UTC")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def check_output(cfg: dict, app: dict, xml: str, request_id: str | None, pems_b64: list[str]) -> dict:
    """SECURITY.md I4, read off the XML of a successful Response."""
    root = common.parse_xml(xml)
    check_equal(root.tag, "{%s}Response" % NS["samlp"], "root is samlp:Response")
    check(not root.xpath("//comment() | //processing-instruction()"), "no comments or processing instructions")
    assertions = root.xpath("//saml:Assertion", namespaces=NS)
    check_equal(len(assertions), 1, "exactly one Assertion, a child of the Response")
    assertion = assertions[0]
    check(assertion.getparent() is root, "the Assertion is not nested anywhere else")
    check(not root.xpath("//saml:EncryptedAssertion", namespaces=NS), "no EncryptedAssertion")
    for name, node in (("Response", root), ("Assertion", assertion)):
        check(ID_PATTERN.match(node.get("ID") or ""), f"{name} ID is '_' + at least 128 random bits",
              node.get("ID"))
        check_equal(node.get("Version"), "2.0", f"{name} Version")
        check_equal(common.xpath1(node, "saml:Issuer").text, cfg["issuer"], f"{name} Issuer is the tenant entityID")
    check(root.get("ID") != assertion.get("ID"), "Response and Assertion IDs differ")
    check_equal(root.get("Destination"), app["acs"], "Destination is the ACS")
    check_equal(root.get("InResponseTo"), request_id, "Response InResponseTo")
    check_equal([c.get("Value") for c in root.xpath("samlp:Status/samlp:StatusCode", namespaces=NS)],
                [common.STATUS_SUCCESS], "status Success")
    issued = instant(assertion.get("IssueInstant"))
    now = datetime.now(timezone.utc)
    check(abs((now - issued).total_seconds()) < 120, "Assertion IssueInstant is now", assertion.get("IssueInstant"))

    subject = common.xpath1(assertion, "saml:Subject")
    confirmation = common.xpath1(subject, "saml:SubjectConfirmation")
    check_equal(confirmation.get("Method"), BEARER, "SubjectConfirmation Method bearer")
    data = common.xpath1(confirmation, "saml:SubjectConfirmationData")
    check_equal(data.get("Recipient"), app["acs"], "SubjectConfirmationData Recipient is the ACS")
    check_equal(data.get("InResponseTo"), request_id, "SubjectConfirmationData InResponseTo")
    check(data.get("NotBefore") is None, "no NotBefore on a bearer SubjectConfirmationData (Profiles §4.1.4.2)")
    lifetime = (instant(data.get("NotOnOrAfter")) - issued).total_seconds()
    check(0 < lifetime <= 300, f"SubjectConfirmationData NotOnOrAfter is {lifetime:.0f} s ahead (at most 5 min)")

    conditions = common.xpath1(assertion, "saml:Conditions")
    not_before, not_after = instant(conditions.get("NotBefore")), instant(conditions.get("NotOnOrAfter"))
    check(not_before <= issued < not_after, "Conditions NotBefore <= IssueInstant < NotOnOrAfter")
    check((not_after - issued).total_seconds() <= 300, "Conditions NotOnOrAfter at most 5 min ahead")
    audiences = [a.text for a in conditions.xpath("saml:AudienceRestriction/saml:Audience", namespaces=NS)]
    check_equal(audiences, [app["entity_id"]], "Audience is the SP entityID, and only it")

    statements = assertion.xpath("saml:AuthnStatement", namespaces=NS)
    check_equal(len(statements), 1, "one AuthnStatement")
    check(statements[0].get("SessionIndex"), "AuthnStatement has a SessionIndex")
    check_equal(common.xpath1(statements[0], "saml:AuthnContext/saml:AuthnContextClassRef").text, common.PPT,
                "AuthnContextClassRef PasswordProtectedTransport (password only, no MFA)")
    attributes = assertion.xpath("saml:AttributeStatement/saml:Attribute", namespaces=NS)
    names = [a.get("Name") for a in attributes]
    check_equal(len(names), len(set(names)), "attribute names are unique")
    check(all(a.get("NameFormat") == "urn:oasis:names:tc:SAML:2.0:attrname-format:uri" for a in attributes),
          "every Attribute has NameFormat uri")
    xsi_type = "{http://www.w3.org/2001/XMLSchema-instance}type"
    values = assertion.xpath("saml:AttributeStatement/saml:Attribute/saml:AttributeValue", namespaces=NS)
    check(all(v.get(xsi_type) == "xs:string" and len(v) == 0 for v in values),
          "every AttributeValue is xsi:type xs:string with text only")
    for uri in (common.ATTR_EMAIL, common.ATTR_GIVEN, common.ATTR_SURNAME, common.ATTR_UPN, common.ATTR_TENANT,
                common.ATTR_OID, common.ATTR_IDP, common.ATTR_DISPLAY, common.ATTR_AMR):
        check(uri in names, f"attribute {uri.rsplit('/', 1)[-1]}")

    # The signature of the Assertion: the profile Gatehouse promises (I4).
    signatures = assertion.xpath("ds:Signature", namespaces=NS)
    check_equal(len(signatures), 1, "the Assertion has one enveloped ds:Signature")
    signature = signatures[0]
    check(signature.getprevious() is not None and signature.getprevious().tag == "{%s}Issuer" % NS["saml"],
          "the Signature follows the Issuer (schema order)")
    check_signature_profile(signature, assertion.get("ID"), pems_b64)
    if app["sign_response"]:
        check_signature_profile(common.xpath1(root, "ds:Signature"), root.get("ID"), pems_b64)
    else:
        check(not root.xpath("ds:Signature", namespaces=NS), "the Response itself is not signed for this SP")
    return common.response_facts(xml)


def check_signature_profile(signature, element_id: str, pems_b64: list[str]) -> None:
    def algorithm(path):
        return common.xpath1(signature, path).get("Algorithm")

    check_equal(algorithm("ds:SignedInfo/ds:CanonicalizationMethod"), EXC_C14N, "CanonicalizationMethod exc-c14n")
    check_equal(algorithm("ds:SignedInfo/ds:SignatureMethod"), RSA_SHA256, "SignatureMethod RSA-SHA256")
    references = signature.xpath("ds:SignedInfo/ds:Reference", namespaces=NS)
    check_equal(len(references), 1, "one Reference")
    check_equal(references[0].get("URI"), "#" + element_id, "the Reference points at the signed element's ID")
    check_equal([t.get("Algorithm") for t in references[0].xpath("ds:Transforms/ds:Transform", namespaces=NS)],
                [ENVELOPED, EXC_C14N], "Transforms: enveloped-signature, exc-c14n only")
    check_equal(algorithm("ds:SignedInfo/ds:Reference/ds:DigestMethod"), SHA256, "DigestMethod SHA-256")
    certificate = "".join(common.xpath1(signature, "ds:KeyInfo/ds:X509Data/ds:X509Certificate").text.split())
    check(certificate in pems_b64, "the KeyInfo certificate is one of the metadata's signing certificates")


def sign_in(browser, cfg, app, **request) -> tuple[str, common.Outcome]:
    request_id, xml = common.authn_request_xml(cfg, app, **request)
    outcome = browser.run("GET", common.redirect_url(cfg, xml, relay_state="oracle"))
    return request_id, common.expect_post_to(outcome, app["acs"], f"{app['entity_id'].rsplit('/', 1)[-1]}")


def main(cfg: dict) -> None:
    user = cfg["user"]
    step("IdP metadata: the signing certificates become xmlsec1's only trusted certificates")
    metadata = common.fetch_metadata(cfg)
    certs = common.idp_certificates(metadata)
    check_equal(len(certs), 2, "two signing certificates (active and next)")
    check_equal(len(set(certs)), 2, "they differ")
    pems = []
    for i, cert in enumerate(certs):
        path = os.path.join(cfg["work"], f"idp-{i}.pem")
        with open(path, "w", encoding="ascii") as f:
            f.write(common.pem(cert))
        pems.append(path)
    oracle = Oracle(cfg, pems)
    version = subprocess.run([oracle.binary, "--version"], capture_output=True, text=True).stdout.strip()
    ok(f"oracle: {oracle.binary} ({version})")

    browser = common.Browser(cfg)
    results = {}
    for name in ("xmlsec1", "xmlsec1-signed"):
        app = cfg["apps"][name]
        step(f"{name}: sign-in, then the I4 output checks and xmlsec1 on the Response "
             f"({'Response and Assertion signed' if app['sign_response'] else 'Assertion signed'})")
        request_id, outcome = sign_in(browser, cfg, app)
        xml = outcome.xml
        with open(os.path.join(cfg["work"], f"{name}-response.xml"), "w", encoding="utf-8") as f:
            f.write(xml)
        facts = check_output(cfg, app, xml, request_id, certs)
        check_equal(facts["name_id_format"], common.NAMEID_PERSISTENT, "NameID format persistent")
        check(facts["name_id"] and "@" not in facts["name_id"], "NameID is opaque")
        check_equal(facts["attributes"][common.ATTR_EMAIL], [user["email"]], "email attribute")
        check_equal(facts["attributes"][common.ATTR_DISPLAY], [user["name"]],
                    "displayname with <, &, quotes, ]]> and <!-- is escaped and round-trips (I5)")
        check_equal(facts["attributes"][common.ATTR_SURNAME], [user["family_name"]], "surname round-trips (I5)")
        oracle.expect_valid(xml, "genuine Response")
        # The exact command of SECURITY.md I4 (one trusted certificate, no --node-xpath): it
        # checks the first Signature in document order, which is the Response's when there is one.
        signer = next(p for p, c in zip(pems, certs) if c in xml)
        good, output = oracle.verify(xml, None, [signer])
        check(good, "the plain SECURITY.md I4 command succeeds with the signer's certificate alone", output[-800:])
        other = next(p for p in pems if p != signer)
        good, _ = oracle.verify(xml, None, [other])
        check(not good, "trusting only the other (next) certificate, the same command fails")
        results[name] = facts

        step(f"{name}: tampered copies fail under xmlsec1")
        oracle.expect_invalid(common.tamper_email(xml), "email changed", ASSERTION_SIGNATURE)
        oracle.expect_invalid(common.tamper_name_id(xml), "NameID changed", ASSERTION_SIGNATURE)
        oracle.expect_invalid(common.tamper_email(xml), "email changed, first-Signature form of the command")
        attacker_key, attacker_cert = common.attacker_keypair(cfg["work"])
        oracle.expect_invalid(common.tamper_resigned_by_attacker(xml, attacker_key, attacker_cert),
                              "re-signed by an attacker certificate (not trusted)", ASSERTION_SIGNATURE,
                              why="certificate")
        if app["sign_response"]:
            oracle.expect_invalid(common.tamper_destination(xml), "Response Destination changed", RESPONSE_SIGNATURE)
            oracle.expect_invalid(common.tamper_response_issue_instant(xml), "Response IssueInstant changed",
                                  RESPONSE_SIGNATURE)
            oracle.expect_invalid(common.tamper_email(xml), "email changed, seen by the Response signature",
                                  RESPONSE_SIGNATURE)
            # The Assertion's signature does not depend on where it sits (exclusive c14n): the
            # Assertion alone, cut out of the Response, still verifies.
            root = common.parse_xml(xml)
            lone = common.to_xml(common.xpath1(root, "saml:Assertion"))
            good, output = oracle.verify(lone, None)
            check(good, "the Assertion cut out of the Response verifies on its own (exclusive c14n)", output[-800:])

    step("pairwise persistent NameIDs (I4)")
    check(results["xmlsec1"]["name_id"] != results["xmlsec1-signed"]["name_id"],
          "the same user has different persistent NameIDs at two SPs")
    check_equal(results["xmlsec1"]["session_index"], results["xmlsec1-signed"]["session_index"],
                "one Gatehouse session, one SessionIndex")

    step("xmlsec1-email: NameID format emailAddress when the SP is registered so")
    app = cfg["apps"]["xmlsec1-email"]
    request_id, outcome = sign_in(browser, cfg, app)
    facts = common.response_facts(outcome.xml)
    check_equal(facts["name_id_format"], common.NAMEID_EMAIL, "NameID format emailAddress")
    check_equal(facts["name_id"], user["email"], "NameID is the e-mail address")
    oracle.expect_valid(outcome.xml, "emailAddress Response")

    step("error Responses are signed too (a RequestedAuthnContext that cannot be met, I6)")
    app = cfg["apps"]["xmlsec1"]
    request_id, outcome = sign_in(browser, cfg, app, authn_context=common.UNMEETABLE_CONTEXT)
    facts = common.response_facts(outcome.xml)
    check_equal(facts["status"], [common.STATUS_RESPONDER, common.STATUS_NO_AUTHN_CONTEXT],
                "Responder / NoAuthnContext")
    check("assertion_id" not in facts, "no assertion")
    check_equal(facts["in_response_to"], request_id, "InResponseTo")
    check(facts["response_signed"], "the error Response is signed")
    good, output = oracle.verify(outcome.xml, RESPONSE_SIGNATURE)
    check(good, "xmlsec1 verifies the error Response's signature", output[-800:])
    oracle.expect_invalid(common.tamper_status_success(outcome.xml), "error status turned into Success",
                          RESPONSE_SIGNATURE)

    step("AuthnRequest handling, read off the Responses (I1, I3, NameIDPolicy, Subject)")
    app = cfg["apps"]["xmlsec1"]

    def answer(relay_state=None, **edits):
        request_id, xml = common.authn_request_xml(cfg, app)
        for old, new in edits.get("replace", {}).items():
            if old not in xml:
                fail(f"cannot edit the hand-made request: {old!r} is not in it")
            xml = xml.replace(old, new)
        return request_id, browser.run("GET", common.redirect_url(cfg, xml, relay_state))

    acs_attr = f'AssertionConsumerServiceURL="{app["acs"]}"'
    _, outcome = answer(replace={acs_attr: ""})
    common.expect_post_to(outcome, app["acs"], "no ACS in the request: the registered default")
    _, outcome = answer(replace={acs_attr: 'AssertionConsumerServiceIndex="0"'})
    common.expect_post_to(outcome, app["acs"], "AssertionConsumerServiceIndex 0 (registered)")
    _, outcome = answer(replace={acs_attr: 'AssertionConsumerServiceIndex="7"'})
    common.expect_error_page(outcome, "AssertionConsumerServiceIndex 7 (not registered, I1)")
    for evil in (app["acs"] + "/", app["acs"] + "?next=x", app["acs"].replace("http://", "https://"),
                 "https://evil.example/acs"):
        _, outcome = answer(replace={acs_attr: f'AssertionConsumerServiceURL="{evil}"'})
        common.expect_error_page(outcome, f"ACS {evil} (not an exact registered URL, I1)")
    _, outcome = answer(relay_state="r" * 80)
    common.expect_post_to(outcome, app["acs"], "RelayState of exactly 80 bytes")
    check_equal(outcome.fields.get("RelayState"), "r" * 80, "echoed unchanged (I3)")
    transient = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
    _, outcome = answer(replace={'AllowCreate="true"': f'AllowCreate="true" Format="{transient}"'})
    facts = common.response_facts(common.expect_post_to(outcome, app["acs"], "transient NameID asked").xml)
    check_equal(facts["status"], [common.STATUS_SUCCESS], "a transient NameID asked: honoured")
    check_equal(facts["name_id_format"], transient, "the NameID is transient")
    check(len(facts["name_id"] or "") >= 23 and facts["name_id"] != user["email"],
          f"the transient NameID is random (128 bits or more), not the address: {facts['name_id']}")
    _, outcome = answer(replace={'AllowCreate="true"': 'AllowCreate="true" '
                                 'Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"'})
    check_equal(common.response_facts(common.expect_post_to(outcome, app["acs"], "X.509 subject NameID asked").xml)
                ["status"], [common.STATUS_REQUESTER, "urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy"],
                "a NameIDPolicy Gatehouse cannot meet: Requester / InvalidNameIDPolicy")
    _, outcome = answer(replace={"<samlp:NameIDPolicy": '<saml:Subject><saml:NameID Format="'
                                 f'{common.NAMEID_EMAIL}">{user["email"]}</saml:NameID></saml:Subject>'
                                 "<samlp:NameIDPolicy"})
    facts = common.response_facts(common.expect_post_to(outcome, app["acs"], "Subject = the signed-in user").xml)
    check_equal(facts["status"], [common.STATUS_SUCCESS], "a request naming the signed-in user succeeds")
    other = "someone-else@" + user["email"].split("@", 1)[1]
    _, outcome = answer(replace={"<samlp:NameIDPolicy": '<saml:Subject><saml:NameID Format="'
                                 f'{common.NAMEID_EMAIL}">{other}</saml:NameID></saml:Subject>'
                                 "<samlp:NameIDPolicy"})
    facts = common.response_facts(common.expect_post_to(outcome, app["acs"], f"Subject = {other} (unknown)").xml)
    check_equal(facts["status"], [common.STATUS_RESPONDER, "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal"],
                "an AuthnRequest naming an unknown subject: Responder / UnknownPrincipal (SAML Core §3.4.1.4)")
    check("assertion_id" not in facts, "no assertion for the signed-in user")
    both = f'{acs_attr} AssertionConsumerServiceIndex="0"'
    _, outcome = answer(replace={acs_attr: both})
    common.expect_error_page(outcome, "both an ACS URL and an index (mutually exclusive, SAML Core §3.4.1)")
    for version, detail in (("2.1", "RequestVersionTooHigh"), ("1.1", "RequestVersionTooLow")):
        _, outcome = answer(replace={'Version="2.0"': f'Version="{version}"'})
        facts = common.response_facts(common.expect_post_to(outcome, app["acs"], f"Version {version}").xml)
        check_equal(facts["status"], ["urn:oasis:names:tc:SAML:2.0:status:VersionMismatch",
                                      f"urn:oasis:names:tc:SAML:2.0:status:{detail}"],
                    f"a Version=\"{version}\" request gets VersionMismatch / {detail} (SAML Core §3.2.2.2)")

    step("the signer under load: concurrent sign-ins, every Response verified by xmlsec1")
    app = cfg["apps"]["xmlsec1-signed"]
    total, workers = 24, 6
    responses: list[tuple[str, str]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            own = common.Browser(cfg)
            own.session.cookies.update(browser.session.cookies)  # the same signed-in browser
            for _ in range(n):
                request_id, xml = common.authn_request_xml(cfg, app)
                outcome = own.run("GET", common.redirect_url(cfg, xml))
                if outcome.kind != "post" or outcome.login_pages:
                    raise RuntimeError(f"no silent Response: {outcome.kind} {outcome.status} {outcome.trail}")
                with lock:
                    responses.append((request_id, outcome.xml))
        except Exception as err:  # noqa: BLE001
            with lock:
                errors.append(f"{type(err).__name__}: {err}")

    threads = [threading.Thread(target=worker, args=(total // workers,)) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    check(not errors, f"{workers} browsers x {total // workers} silent sign-ins in parallel", errors[:3])
    check_equal(len(responses), total, "Responses collected")
    bad = []
    for request_id, xml in responses:
        facts = common.response_facts(xml)
        if facts["in_response_to"] != request_id:
            bad.append(f"InResponseTo {facts['in_response_to']} != {request_id}")
        for name, xpath in oracle.signatures(xml):
            good, output = oracle.verify(xml, xpath)
            if not good:
                bad.append(f"{name}: {output[-300:]}")
    check(not bad, f"all {total} concurrent Responses answer their own request and verify under xmlsec1 "
          f"({total * 2} signatures)", bad[:3])
    ids = {common.response_facts(x)["assertion_id"] for _, x in responses}
    check_equal(len(ids), total, "every Assertion ID is unique")


if __name__ == "__main__":
    common.run_main(main, "xmlsec1")
