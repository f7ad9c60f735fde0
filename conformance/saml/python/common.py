"""Shared pieces of the Python SAML SP suites: check helpers, the headless browser that signs in
at Gatehouse and picks up the auto-posted SAMLResponse, the tampering of signed Responses, and a
few XML helpers. Nothing here validates a Response: that is each library's job.

The browser is conformance/lib/navigation.py's (a requests.Session and its tab): it sends no
header by hand that the page did not cause. Every request carries the Fetch Metadata Chromium
derives; a form POST carries the Origin that the page holding the form reveals under its
referrer policy. A POST-binding AuthnRequest is posted from the SP's own page (the HTML its
library built, from the SP's origin), submitted by its script: a cross-site POST without
Sec-Fetch-User and without Gatehouse's SameSite=Lax cookies.

The config file is written by ../run.sh (see there for its shape).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from urllib.parse import urljoin, urlsplit

import requests
from lxml import etree

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
import navigation  # noqa: E402

TIMEOUT = 30

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
}
ATTR_EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
ATTR_GIVEN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
ATTR_SURNAME = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
ATTR_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
ATTR_TENANT = "http://schemas.microsoft.com/identity/claims/tenantid"
ATTR_OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
ATTR_IDP = "http://schemas.microsoft.com/identity/claims/identityprovider"
ATTR_DISPLAY = "http://schemas.microsoft.com/identity/claims/displayname"
ATTR_AMR = "http://schemas.microsoft.com/claims/authnmethodsreferences"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
REFEDS_MFA = "https://refeds.org/profile/mfa"
# A context Gatehouse has no method for (it meets password and TOTP classes only): asking for it
# must give Responder / NoAuthnContext. (Asking for MFA runs Gatehouse's TOTP step instead.)
UNMEETABLE_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
STATUS_NO_AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
STATUS_REQUEST_DENIED = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
EVIL_EMAIL = "mallory@evil.example"

# ------------------------------------------------------------------------------------ checks
passed = 0
current_step = "(setup)"


class CheckFailed(Exception):
    pass


def step(name: str) -> None:
    global current_step
    current_step = name
    print(f"\n== {name}", flush=True)


def ok(message: str) -> None:
    global passed
    passed += 1
    print(f"  ok   {message}", flush=True)


def fail(message: str, detail=None) -> None:
    text = f"[{current_step}] {message}"
    if detail is not None:
        text += "\n       detail: " + (detail if isinstance(detail, str) else json.dumps(detail, indent=2, default=str))
    raise CheckFailed(text)


def check(condition, message: str, detail=None) -> None:
    if not condition:
        fail(message, detail)
    ok(message)


def check_equal(actual, expected, message: str) -> None:
    if actual != expected:
        fail(message, {"expected": expected, "actual": actual})
    shown = json.dumps(actual, default=str)
    ok(f"{message} ({shown if len(shown) <= 90 else shown[:87] + '...'})")


def run_main(main, name: str) -> None:
    """Runs main(config) with the CONFIG path from argv; prints the tally; exits non-zero on failure."""
    config_path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CONFORMANCE_CONFIG")
    if not config_path:
        print(f"usage: python {sys.argv[0]} CONFIG.json", file=sys.stderr)
        sys.exit(2)
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    started = time.time()
    try:
        main(config)
    except CheckFailed as err:
        print(f"\nFAIL {err}", file=sys.stderr, flush=True)
        print(f"{passed} passed, 1 failed")
        sys.exit(1)
    except Exception as err:  # noqa: BLE001
        print(f"\nFAIL [{current_step}] unexpected error: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        traceback.print_exc()
        print(f"{passed} passed, 1 failed")
        sys.exit(1)
    print(f"\n{name}: {passed} checks passed in {time.time() - started:.1f} s")
    print(f"{passed} passed, 0 failed")


# ------------------------------------------------------------------------- the headless browser
parse_forms = navigation.parse_forms


def same_endpoint(a: str, b: str) -> bool:
    x, y = urlsplit(a), urlsplit(b)
    return (x.scheme, x.netloc, x.path) == (y.scheme, y.netloc, y.path)


class Outcome:
    """Where a browser run stopped: an auto-post form to the ACS, a redirect to an outside
    address (SLO), or an error page."""

    def __init__(self, kind: str, url: str, fields: dict | None = None, status: int = 0, body: str = "",
                 trail: list | None = None, login_pages: int = 0):
        self.kind, self.url, self.fields, self.status, self.body = kind, url, fields or {}, status, body
        self.trail, self.login_pages = trail or [], login_pages

    @property
    def saml_response(self) -> str:
        if "SAMLResponse" not in self.fields:
            fail("the sign-in did not end in an auto-post form with a SAMLResponse",
                 {"kind": self.kind, "status": self.status, "trail": self.trail, "body": self.body[:1500]})
        return self.fields["SAMLResponse"]

    @property
    def xml(self) -> str:
        return base64.b64decode(self.saml_response).decode("utf-8")


def sp_page(app: dict, html: str, headers=None) -> navigation.Document:
    """The SP's page that holds a POST-binding form: the HTML its library built, served from the
    SP's own origin (that of its ACS)."""
    return navigation.Document.of(app["acs"], dict(headers or []), html)


class Browser(navigation.Browser):
    """A browser (conformance/lib/navigation.py) that follows Gatehouse's redirects by hand, fills
    in the sign-in pages (e-mail, then password) and stops at the form that posts to the SP."""

    def __init__(self, cfg: dict) -> None:
        super().__init__()
        self.public_url = cfg["public_url"]
        self.email = cfg["user"]["email"]
        self.password = cfg["user"]["password"]

    def run(self, method: str, url: str, data: dict | None = None, *, sp_page: navigation.Document | None = None,
            stop_at: str | None = None, sign_in: bool = True, max_steps: int = 12) -> Outcome:
        """sp_page: the SP's page whose script posts the first request (POST binding);
        stop_at: an address outside Gatehouse (an SLO endpoint) whose redirect ends the run;
        sign_in=False: stop at the first sign-in page instead of filling it in."""
        trail: list[str] = []
        login_pages = 0
        for _ in range(max_steps):
            res = self.request(method, url, data, page=sp_page, user=sp_page is None, timeout=TIMEOUT)
            sp_page = None
            location = res.headers.get("Location")
            trail.append(f"{method} {url[:160]} -> {res.status_code} {(location or '')[:160]}")
            if 300 <= res.status_code < 400:
                if not location:
                    fail(f"redirect {res.status_code} without Location", trail)
                target = urljoin(url, location)
                if stop_at and same_endpoint(target, stop_at):
                    return Outcome("redirect", target, status=res.status_code, trail=trail, login_pages=login_pages)
                if not target.startswith(self.public_url):
                    fail("Gatehouse redirected the browser outside itself", {"trail": trail, "to": target})
                method, url, data = "GET", target, None
                continue
            if res.status_code != 200:
                return Outcome("error", url, status=res.status_code, body=res.text, trail=trail,
                               login_pages=login_pages)
            forms = parse_forms(res.text, url)
            post = next((f for f in forms if "SAMLResponse" in f["hidden"]), None)
            if post is not None:
                if post["method"] != "post":
                    fail("the SAMLResponse form must use method=post (HTTP-POST binding)", post)
                return Outcome("post", post["action"], post["hidden"], status=200, body=res.text, trail=trail,
                               login_pages=login_pages)
            form = next((f for f in forms if f["method"] == "post" and "step" in f["hidden"]), None)
            if form is None:
                return Outcome("page", url, status=res.status_code, body=res.text, trail=trail,
                               login_pages=login_pages)
            fields = dict(form["hidden"])
            stage = fields["step"]
            login_pages += 1
            if not sign_in:
                return Outcome("login", url, fields, status=200, body=res.text, trail=trail, login_pages=login_pages)
            if stage == "identify":
                fields["email"] = self.email
            elif stage == "password":
                fields["password"] = self.password
            else:
                fail(f"unknown sign-in step {stage}", {"trail": trail, "body": res.text[:2000]})
            method, url, data = "POST", form["action"], fields
        fail(f"the browser run did not finish within {max_steps} requests", trail)
        raise AssertionError  # unreachable


def expect_post_to(outcome: Outcome, acs: str, message: str) -> Outcome:
    if outcome.kind != "post":
        fail(f"{message}: expected an auto-post form to {acs}",
             {"kind": outcome.kind, "status": outcome.status, "trail": outcome.trail, "body": outcome.body[:1500]})
    check_equal(outcome.url, acs, f"{message}: the form posts to the registered ACS")
    return outcome


def page_text(html_text: str) -> str:
    """The visible text of a page (for messages)."""
    from html import unescape

    body = re.sub(r"(?s)<(script|style|head)\b.*?</\1>|<[^>]+>", " ", html_text)
    return " ".join(unescape(body).split())


def expect_error_page(outcome: Outcome, message: str) -> None:
    """SECURITY I1/I2: a refused request is an error page at Gatehouse; nothing is posted anywhere."""
    if outcome.kind == "post":
        fail(f"{message}: Gatehouse posted a SAMLResponse to {outcome.url} instead of showing an error page",
             {"trail": outcome.trail})
    text = page_text(outcome.body)
    check(outcome.kind in ("error", "page") and 400 <= outcome.status < 500,
          f"{message}: an error page ({outcome.status}: {text[:90]!r}), no form posting to any ACS",
          {"kind": outcome.kind, "status": outcome.status, "trail": outcome.trail, "body": outcome.body[:800]})


# ------------------------------------------------------------------------ hand-made requests
def authn_request_xml(cfg: dict, app: dict, *, request_id: str | None = None, acs: str | None = None,
                      authn_context: str | None = None, force_authn: bool = False) -> tuple[str, str]:
    """A minimal, correct AuthnRequest (SAML Core §3.4.1) for suites whose library cannot make
    one (the xmlsec1 oracle). Returns (id, xml)."""
    from datetime import datetime, timezone
    from xml.sax.saxutils import quoteattr, escape

    request_id = request_id or "_" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    context = ""
    if authn_context:
        context = ('<samlp:RequestedAuthnContext Comparison="exact"><saml:AuthnContextClassRef>'
                   f"{escape(authn_context)}</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>")
    force = ' ForceAuthn="true"' if force_authn else ""
    xml = (f'<samlp:AuthnRequest xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}" ID="{request_id}" '
           f'Version="2.0" IssueInstant="{now}" Destination={quoteattr(cfg["sso_url"])} '
           f'AssertionConsumerServiceURL={quoteattr(acs or app["acs"])} '
           f'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"{force}>'
           f'<saml:Issuer>{escape(app["entity_id"])}</saml:Issuer>'
           f'<samlp:NameIDPolicy AllowCreate="true"/>{context}</samlp:AuthnRequest>')
    return request_id, xml


def redirect_url(cfg: dict, xml: str, relay_state: str | None = None) -> str:
    """The HTTP-Redirect binding (SAML Bindings §3.4.4): raw DEFLATE, base64, URL-encoded."""
    import zlib
    from urllib.parse import urlencode

    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = compressor.compress(xml.encode("utf-8")) + compressor.flush()
    params = {"SAMLRequest": base64.b64encode(deflated).decode("ascii")}
    if relay_state is not None:
        params["RelayState"] = relay_state
    return cfg["sso_url"] + "?" + urlencode(params)


# ------------------------------------------------------------------------------- XML helpers
def parse_xml(xml: str | bytes):
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
    return etree.fromstring(xml, parser)


def to_xml(root) -> str:
    return etree.tostring(root, encoding="unicode")


def b64(xml: str) -> str:
    return base64.b64encode(xml.encode("utf-8")).decode("ascii")


def xpath1(node, path: str):
    found = node.xpath(path, namespaces=NS)
    if len(found) != 1:
        fail(f"expected exactly one node at {path}, found {len(found)}")
    return found[0]


def response_facts(xml: str) -> dict:
    """The values the suites compare with what a library reports (read straight from the XML)."""
    root = parse_xml(xml)
    facts = {
        "response_id": root.get("ID"),
        "in_response_to": root.get("InResponseTo"),
        "destination": root.get("Destination"),
        "status": [c.get("Value") for c in root.xpath("samlp:Status//samlp:StatusCode", namespaces=NS)],
        "signatures": len(root.xpath("//ds:Signature", namespaces=NS)),
        "response_signed": len(root.xpath("ds:Signature", namespaces=NS)) == 1,
    }
    assertions = root.xpath("saml:Assertion", namespaces=NS)
    if assertions:
        a = assertions[0]
        facts.update({
            "assertion_id": a.get("ID"),
            "name_id": a.findtext("saml:Subject/saml:NameID", namespaces=NS),
            "name_id_format": a.find("saml:Subject/saml:NameID", namespaces=NS).get("Format"),
            "session_index": a.find("saml:AuthnStatement", namespaces=NS).get("SessionIndex"),
            "attributes": {
                at.get("Name"): [v.text or "" for v in at.findall("saml:AttributeValue", namespaces=NS)]
                for at in a.xpath("saml:AttributeStatement/saml:Attribute", namespaces=NS)
            },
        })
    return facts


def idp_certificates(metadata_xml: str) -> list[str]:
    """Base64 bodies of the IdP's signing certificates (KeyDescriptor use=signing or unspecified)."""
    root = parse_xml(metadata_xml)
    certs = []
    for kd in root.xpath("//md:IDPSSODescriptor/md:KeyDescriptor", namespaces=NS):
        if kd.get("use") in (None, "signing"):
            for c in kd.xpath(".//ds:X509Certificate", namespaces=NS):
                certs.append("".join((c.text or "").split()))
    return certs


def pem(cert_b64: str) -> str:
    body = "\n".join(cert_b64[i:i + 64] for i in range(0, len(cert_b64), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def replace_metadata_certs(metadata_xml: str, cert_file: str) -> str:
    """The IdP metadata with every certificate replaced by another one (negative controls)."""
    with open(cert_file, encoding="ascii") as f:
        body = "".join(line for line in f.read().splitlines() if "-----" not in line)
    root = parse_xml(metadata_xml)
    for c in root.xpath("//ds:X509Certificate", namespaces=NS):
        c.text = body
    return to_xml(root)


def fetch_metadata(cfg: dict) -> str:
    res = requests.get(cfg["metadata_url"], timeout=TIMEOUT)
    check_equal(res.status_code, 200, "IdP metadata served")
    return res.text


# ------------------------------------------------------------------------------------ tampers
# Each takes the Response XML (as Gatehouse sent it) and returns an altered copy that a correct
# SP must refuse. They re-serialise with lxml, which keeps every namespace declaration and the
# bytes the signatures cover; the untouched copy round-trips to a Response that still verifies.

def _assertion(root):
    return xpath1(root, "/samlp:Response/saml:Assertion")


def _set_email(assertion, value: str) -> None:
    nodes = assertion.xpath(f"saml:AttributeStatement/saml:Attribute[@Name='{ATTR_EMAIL}']/saml:AttributeValue",
                            namespaces=NS)
    if len(nodes) != 1:
        fail("the Response has no single email attribute value to tamper with")
    nodes[0].text = value


def _evil_copy(assertion):
    """An unsigned copy of the assertion for another person, with a new ID."""
    evil = copy.deepcopy(assertion)
    for sig in evil.xpath("ds:Signature", namespaces=NS):
        evil.remove(sig)
    evil.set("ID", "_evil" + uuid.uuid4().hex)
    _set_email(evil, EVIL_EMAIL)
    name_id = evil.find("saml:Subject/saml:NameID", namespaces=NS)
    name_id.text = "evil-" + (name_id.text or "")
    return evil


def tamper_email(xml: str) -> str:
    """The email attribute inside the signed assertion is changed."""
    root = parse_xml(xml)
    _set_email(_assertion(root), EVIL_EMAIL)
    return to_xml(root)


def tamper_name_id(xml: str) -> str:
    """The NameID inside the signed assertion is changed."""
    root = parse_xml(xml)
    name_id = xpath1(_assertion(root), "saml:Subject/saml:NameID")
    name_id.text = "evil-" + (name_id.text or "")
    return to_xml(root)


def tamper_xsw_sibling(xml: str) -> str:
    """XSW3: an unsigned evil assertion (new ID) inserted before the signed one."""
    root = parse_xml(xml)
    signed = _assertion(root)
    signed.addprevious(_evil_copy(signed))
    return to_xml(root)


def tamper_xsw_wrap(xml: str) -> str:
    """XSW4: an evil assertion takes the signed one's place and holds the original inside it."""
    root = parse_xml(xml)
    signed = _assertion(root)
    evil = _evil_copy(signed)
    signed.addprevious(evil)
    root.remove(signed)
    evil.append(signed)
    return to_xml(root)


def tamper_xsw_signature_copy(xml: str) -> str:
    """XSW6-like: the signed assertion is modified and an unmodified copy (its ID, unsigned) is
    hidden inside its own ds:Signature/ds:Object, where a naive ID lookup finds it."""
    root = parse_xml(xml)
    signed = _assertion(root)
    original = copy.deepcopy(signed)
    for sig in original.xpath("ds:Signature", namespaces=NS):
        original.remove(sig)
    signature = xpath1(signed, "ds:Signature")
    obj = etree.SubElement(signature, f"{{{NS['ds']}}}Object")
    obj.append(original)
    _set_email(signed, EVIL_EMAIL)
    return to_xml(root)


def tamper_strip_signatures(xml: str) -> str:
    """Every ds:Signature removed, the content changed."""
    root = parse_xml(xml)
    for sig in root.xpath("//ds:Signature", namespaces=NS):
        sig.getparent().remove(sig)
    _set_email(_assertion(root), EVIL_EMAIL)
    return to_xml(root)


def tamper_destination(xml: str) -> str:
    """Response/@Destination changed (covered by the Response signature when there is one)."""
    root = parse_xml(xml)
    root.set("Destination", "https://evil.example/acs")
    return to_xml(root)


def tamper_response_issue_instant(xml: str) -> str:
    """Response/@IssueInstant moved by one second: only the Response signature notices."""
    root = parse_xml(xml)
    t = root.get("IssueInstant")
    m = re.match(r"(.*T\d\d:\d\d:)(\d\d)(.*)", t)
    root.set("IssueInstant", f"{m.group(1)}{(int(m.group(2)) + 1) % 60:02d}{m.group(3)}")
    return to_xml(root)


def _sign_enveloped(element, key_file: str, cert_file: str) -> None:
    """Signs `element` (by its ID) the way Gatehouse does, but with another key (python-xmlsec)."""
    import xmlsec  # the python-xmlsec binding (installed with python3-saml)

    signature = xmlsec.template.create(element, xmlsec.Transform.EXCL_C14N, xmlsec.Transform.RSA_SHA256, ns="ds")
    element.insert(1, signature)  # right after the Issuer, where the schema wants it
    ref = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256, uri="#" + element.get("ID"))
    xmlsec.template.add_transform(ref, xmlsec.Transform.ENVELOPED)
    xmlsec.template.add_transform(ref, xmlsec.Transform.EXCL_C14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    xmlsec.tree.add_ids(element, ["ID"])
    ctx = xmlsec.SignatureContext()
    key = xmlsec.Key.from_file(key_file, xmlsec.KeyFormat.PEM)
    key.load_cert_from_file(cert_file, xmlsec.KeyFormat.PEM)
    ctx.key = key
    ctx.sign(signature)


def tamper_status_success(xml: str) -> str:
    """An error Response's status turned into Success (the second-level code dropped)."""
    root = parse_xml(xml)
    code = xpath1(root, "samlp:Status/samlp:StatusCode")
    code.set("Value", STATUS_SUCCESS)
    for inner in list(code):
        code.remove(inner)
    return to_xml(root)


def tamper_resigned_by_attacker(xml: str, attacker_key: str, attacker_cert: str) -> str:
    """The email is changed and the assertion (and the Response, if it was signed) re-signed with
    the attacker's own key, its certificate in KeyInfo (SECURITY S13: trust comes only from the
    IdP metadata, never from KeyInfo)."""
    root = parse_xml(xml)
    response_signed = bool(root.xpath("ds:Signature", namespaces=NS))
    assertion = _assertion(root)
    _set_email(assertion, EVIL_EMAIL)
    for sig in root.xpath("//ds:Signature", namespaces=NS):
        sig.getparent().remove(sig)
    _sign_enveloped(assertion, attacker_key, attacker_cert)
    if response_signed:
        _sign_enveloped(root, attacker_key, attacker_cert)
    return to_xml(root)


def tampers(facts: dict) -> list[tuple[str, callable]]:
    """The tampers that apply to this Response (the Response-level ones only when it is signed)."""
    out = [
        ("email attribute changed inside the signed assertion", tamper_email),
        ("NameID changed inside the signed assertion", tamper_name_id),
        ("XSW3: unsigned evil assertion before the signed one", tamper_xsw_sibling),
        ("XSW4: evil assertion wrapping the signed one", tamper_xsw_wrap),
        ("XSW6: modified assertion, untouched copy inside ds:Signature/ds:Object", tamper_xsw_signature_copy),
        ("all signatures stripped", tamper_strip_signatures),
    ]
    if facts["response_signed"]:
        out.append(("Response Destination changed under the Response signature", tamper_destination))
        out.append(("Response IssueInstant changed under the Response signature", tamper_response_issue_instant))
    return out


def attacker_keypair(directory: str | None = None) -> tuple[str, str]:
    """A throwaway self-signed RSA key and certificate (the attacker's)."""
    directory = directory or tempfile.mkdtemp(prefix="saml-attacker-")
    key, cert = os.path.join(directory, "attacker.key"), os.path.join(directory, "attacker.crt")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=attacker"], check=True, capture_output=True)
    return key, cert


def excerpt(saml_response_b64: str, limit: int = 4000) -> str:
    """The decoded Response for a failure message (first `limit` characters)."""
    try:
        text = base64.b64decode(saml_response_b64).decode("utf-8", "replace")
    except ValueError:
        return saml_response_b64[:limit]
    return text if len(text) <= limit else text[:limit] + "..."
