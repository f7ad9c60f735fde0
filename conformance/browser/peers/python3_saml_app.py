"""The browser suite's python3-saml app: a small web app on a loopback port, a SAML service
provider of Gatehouse's IdP, that the browser really visits (journeys/saml-sp.mjs).

  GET  /login   SP-initiated SSO: python3-saml's login() builds and signs (RSA-SHA256) an
                HTTP-Redirect AuthnRequest; the app keeps its ID under the RelayState it sent
                (server side: the ACS POST crosses sites and carries no SameSite=Lax cookie) and
                answers 302 to Gatehouse's SSO endpoint
  POST /acs     the AssertionConsumerService: python3-saml validates the Response in strict mode
                (schema, Destination, Audience, Issuer, InResponseTo of the request this app sent,
                times, SubjectConfirmation, the Assertion's signature, rejectDeprecatedAlgorithm)
                and the page shows the verified NameID and attributes:
                <h1 id="result">Signed in</h1> and <pre id="claims">{…JSON…}</pre>; on any error a
                400 page <h1 id="result">Sign-in failed</h1> with <pre id="error">…</pre>.
                A Response without a RelayState this app issued is taken as IdP-initiated
                (process_response without a request ID; python3-saml still refuses one that
                carries an InResponseTo: rejectUnsolicitedResponsesWithInResponseTo)
  GET  /        the home page

Usage: python python3_saml_app.py CONFIG.json             serve (prints {"ready":true,…})
       python python3_saml_app.py CONFIG.json --metadata  print the SP metadata python3-saml
                                                          writes (get_sp_metadata) and exit
CONFIG: {port, origin, entity_id, acs, cert_file, key_file, idp_metadata_file, nameid_format}.
The pages are plain HTML without scripts: the suite screenshots them, it does not audit them.
"""

from __future__ import annotations

import html
import json
import secrets
import signal
import sys
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

warnings.filterwarnings("ignore", category=DeprecationWarning)

from onelogin.saml2.auth import OneLogin_Saml2_Auth  # noqa: E402
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C  # noqa: E402
from onelogin.saml2.errors import OneLogin_Saml2_Error, OneLogin_Saml2_ValidationError  # noqa: E402
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser  # noqa: E402
from onelogin.saml2.settings import OneLogin_Saml2_Settings  # noqa: E402

CFG = json.load(open(sys.argv[1], encoding="utf-8"))


def settings() -> dict:
    with open(CFG["cert_file"], encoding="ascii") as f:
        sp_cert = f.read()
    with open(CFG["key_file"], encoding="ascii") as f:
        sp_key = f.read()
    idp = {}
    if CFG.get("idp_metadata_file"):
        with open(CFG["idp_metadata_file"], encoding="utf-8") as f:
            idp = OneLogin_Saml2_IdPMetadataParser.parse(f.read())["idp"]
    return {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": CFG["entity_id"],
            "assertionConsumerService": {"url": CFG["acs"], "binding": C.BINDING_HTTP_POST},
            # The one format this SP asks for, and the only one its metadata lists.
            "NameIDFormat": CFG["nameid_format"],
            "x509cert": sp_cert,
            "privateKey": sp_key,
        },
        "idp": idp,
        "security": {
            "authnRequestsSigned": True,
            # Registered from its metadata, which cannot say "sign the Response too": the
            # Assertion's signature is what this SP requires.
            "wantMessagesSigned": False,
            "wantAssertionsSigned": True,
            "wantAssertionsEncrypted": False,
            "wantNameId": True,
            "wantNameIdEncrypted": False,
            "wantAttributeStatement": True,
            "requestedAuthnContext": False,
            "signatureAlgorithm": C.RSA_SHA256,
            "digestAlgorithm": C.SHA256,
            "rejectDeprecatedAlgorithm": True,
            "wantXMLValidation": True,
            "allowRepeatAttributeName": False,
            "rejectUnsolicitedResponsesWithInResponseTo": True,
        },
    }


if len(sys.argv) > 2 and sys.argv[2] == "--metadata":
    s = OneLogin_Saml2_Settings(settings(), sp_validation_only=True)
    metadata = s.get_sp_metadata()
    errors = s.validate_metadata(metadata)
    if errors:
        raise SystemExit(f"python3-saml's own SP metadata does not validate: {errors}")
    sys.stdout.write(metadata.decode("utf-8") if isinstance(metadata, bytes) else metadata)
    sys.exit(0)

SETTINGS = settings()
PENDING: dict[str, str] = {}  # RelayState -> AuthnRequest ID
LOCK = threading.Lock()


def request_data(post: dict | None = None) -> dict:
    u = urlsplit(CFG["acs"])
    return {"https": "off", "http_host": u.hostname, "server_port": str(u.port or 80),
            "script_name": u.path, "get_data": {}, "post_data": post or {}}


def page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · python3-saml app</title></head>'
            f"<body><main><p>python3-saml test app</p>{body}</main></body></html>")


def consume(fields: dict) -> tuple[int, str]:
    relay = fields.get("RelayState")
    with LOCK:
        request_id = PENDING.pop(relay, None) if relay else None
    auth = OneLogin_Saml2_Auth(request_data(fields), SETTINGS)
    try:
        auth.process_response(request_id=request_id)
        error = None
        if auth.get_errors() or not auth.is_authenticated():
            error = f"{auth.get_errors()}: {auth.get_last_error_reason()}"
    except (OneLogin_Saml2_Error, OneLogin_Saml2_ValidationError) as err:
        error = f"{type(err).__name__}: {err}"
    if error:
        detail = {"error": error, "relay_state": relay, "expected_in_response_to": request_id}
        return 400, page("Sign-in failed", f'<h1 id="result">Sign-in failed</h1><pre id="error">{html.escape(json.dumps(detail, indent=2))}</pre>')
    claims = {
        "initiated": "sp" if request_id else "idp",
        "nameId": auth.get_nameid(),
        "nameIdFormat": auth.get_nameid_format(),
        "sessionIndex": auth.get_session_index(),
        "inResponseTo": auth.get_last_response_in_response_to(),
        "requestId": request_id,
        "relayState": relay,
        "authnContexts": auth.get_last_authn_contexts(),
        "attributes": auth.get_attributes(),
        "_verified_by": "python3-saml 1.16 process_response, strict, rejectDeprecatedAlgorithm",
    }
    return 200, page("Signed in", f'<h1 id="result">Signed in</h1><p>as {html.escape(str(claims["nameId"]))}</p>'
                                  f'<pre id="claims">{html.escape(json.dumps(claims, indent=2))}</pre>')


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # to the log file (stderr), briefly
        sys.stderr.write("%s %s\n" % (self.command, self.path.split("?")[0]))

    def _send(self, status: int, body: str = "", headers: dict | None = None):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        if url.path == "/login":
            relay = "app-" + secrets.token_urlsafe(12)
            auth = OneLogin_Saml2_Auth(request_data(), SETTINGS)
            force = parse_qs(url.query).get("force_authn") == ["1"]
            location = auth.login(return_to=relay, force_authn=force)
            with LOCK:
                PENDING[relay] = auth.get_last_request_id()
            self._send(302, "", {"Location": location})
        elif url.path == "/":
            self._send(200, page("Home", '<h1 id="result">Home</h1><p><a href="/login">Sign in</a></p>'))
        else:
            self._send(404, page("Not found", "<h1>Not found</h1>"))

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode("utf-8"), keep_blank_values=True).items()}
        if urlsplit(self.path).path != urlsplit(CFG["acs"]).path:
            self._send(404, page("Not found", "<h1>Not found</h1>"))
            return
        try:
            self._send(*consume(form))
        except Exception as err:  # noqa: BLE001 - shown on the page for the journey
            self._send(500, page("Error", f'<h1 id="result">App error</h1><pre id="error">{html.escape(repr(err))}</pre>'))


server = ThreadingHTTPServer(("127.0.0.1", CFG["port"]), Handler)
server.daemon_threads = True
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print(json.dumps({"ready": True, "port": CFG["port"]}), flush=True)
server.serve_forever()
