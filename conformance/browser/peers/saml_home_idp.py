"""A partner organisation's SAML 2.0 IdP for the browser suite (journeys/federation-saml.mjs):
pysaml2's Server (saml2.server.Server) behind a small HTTP server on a loopback port, with a sign-in
page the guest's browser really fills in. Adapted from conformance/federation/saml/home_idp.py
(same pysaml2 calls, same signing settings), run as its own process, without the negative-control
knobs, and with a login page that checks the password.

Nobody on this project wrote the SAML part: pysaml2 parses and checks Gatehouse's AuthnRequests
(HTTP-Redirect binding, the signature against the certificates of Gatehouse's SP metadata,
Destination, the ACS the SP metadata lists) and builds and signs the Responses
(create_authn_response, XML-DSig through the Debian xmlsec1 binary, RSA-SHA256 / SHA-256), and
writes the HTTP-POST binding's self-submitting form (apply_binding), which the browser posts to
Gatehouse's ACS: a cross-site POST (this IdP is http://localhost:PORT, Gatehouse
http://127.0.0.1:…).

- GET  /metadata        the IdP's metadata: its entityID is this URL, a signing certificate, an
                        HTTP-Redirect SingleSignOnService.
- GET  /sso/redirect    an AuthnRequest: parsed and recorded, then the sign-in page (user name and
                        password), or a 400 page naming pysaml2's refusal.
- POST /login           the sign-in form: a wrong password shows the page again with an error; the
                        right one answers with the self-submitting form carrying a signed Response
                        (persistent NameID, the user's address in `mail`, PasswordProtectedTransport).
- GET  /_test/requests  what was received (JSON), for the journey's checks.

Usage: python saml_home_idp.py CONFIG.json   (CONFIG: name, port, origin, work, sp_metadata_file,
users {username: {password, mail, name, given, surname}}). Prints {"ready":true,…} when it listens.
The pages are plain HTML; the suite screenshots them, it does not audit them.
"""

from __future__ import annotations

import datetime
import hashlib
import html
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*CFB.*")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT  # noqa: E402
from saml2.config import IdPConfig  # noqa: E402
from saml2.metadata import entity_descriptor  # noqa: E402
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID  # noqa: E402
from saml2.server import Server  # noqa: E402
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256  # noqa: E402

logging.getLogger("saml2").setLevel(logging.CRITICAL)

PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
CFG = json.load(open(sys.argv[1], encoding="utf-8"))
NAME = CFG["name"]
BASE = CFG["origin"]
ENTITY_ID = f"{BASE}/metadata"
SSO_URL = f"{BASE}/sso/redirect"


def keypair(directory: str, name: str) -> tuple[str, str]:
    """A fresh RSA-2048 key and a self-signed SHA-256 certificate (PEM files)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} SAML IdP (browser conformance)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2)).sign(key, hashes.SHA256()))
    key_file, cert_file = os.path.join(directory, "idp.key"), os.path.join(directory, "idp.crt")
    with open(key_file, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


directory = os.path.join(CFG["work"], "saml-home-idp")
os.makedirs(directory, exist_ok=True)
KEY_FILE, CERT_FILE = keypair(directory, NAME)
xmlsec = shutil.which("xmlsec1")
if not xmlsec:
    raise SystemExit("xmlsec1 is not on PATH (Debian package xmlsec1)")
config = IdPConfig()
config.load({
    "entityid": ENTITY_ID,
    "xmlsec_binary": xmlsec,
    "crypto_backend": "xmlsec1",
    "key_file": KEY_FILE,
    "cert_file": CERT_FILE,
    "metadata": {"local": [CFG["sp_metadata_file"]]},
    # pysaml2 signs with RSA-SHA1 unless told otherwise (PEERS.md).
    "signing_algorithm": SIG_RSA_SHA256,
    "digest_algorithm": DIGEST_SHA256,
    "allow_unknown_attributes": True,
    "service": {
        "idp": {
            "name": f"{NAME} (pysaml2)",
            "endpoints": {"single_sign_on_service": [(SSO_URL, BINDING_HTTP_REDIRECT)]},
            "name_id_format": [NAMEID_FORMAT_PERSISTENT],
            # Gatehouse signs its AuthnRequests (RSA-SHA256, HTTP-Redirect): pysaml2 verifies
            # them against the certificates of Gatehouse's SP metadata.
            "want_authn_requests_signed": True,
            "sign_response": True,
            "sign_assertion": True,
            "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None,
                                   "name_form": NAME_FORMAT_URI}},
        }
    },
})
SERVER = Server(config=config)
METADATA_XML = str(entity_descriptor(config))
REQUESTS: list[dict] = []
RESPONSES: list[dict] = []
PENDING: dict[str, tuple] = {}
LOCK = threading.Lock()


def persistent_id(username: str) -> str:
    return hashlib.sha256(f"{ENTITY_ID}|{username}".encode()).hexdigest()[:40]


def page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)} · {html.escape(NAME)}</title></head>"
            f"<body><main><p>{html.escape(NAME)} (pysaml2)</p>{body}</main></body></html>")


def login_page(key: str, username: str = "", error: str | None = None) -> str:
    return page("Sign in", f"<h1>Sign in to {html.escape(NAME)}</h1>"
                + (f'<p role="alert" id="login-error">{html.escape(error)}</p>' if error else "")
                + f'<form method="post" action="/login"><input type="hidden" name="key" value="{html.escape(key)}">'
                + f'<p><label for="username">User name</label> <input id="username" name="username" autocomplete="username" value="{html.escape(username)}" required></p>'
                + '<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>'
                + '<p><button type="submit">Sign in</button></p></form>')


def authn_request(query: dict) -> tuple[int, str]:
    saml_request = (query.get("SAMLRequest") or [None])[0]
    relay_state = (query.get("RelayState") or [None])[0]
    if not saml_request:
        return 400, page("Error", "<h1>No SAMLRequest</h1>")
    record = {"relay_state": relay_state, "signed_query": "Signature" in query,
              "sig_alg": (query.get("SigAlg") or [None])[0], "at": time.time()}
    try:
        req = SERVER.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT, relay_state=relay_state,
                                         sigalg=(query.get("SigAlg") or [None])[0],
                                         signature=(query.get("Signature") or [None])[0])
        message = req.message
        policy = message.name_id_policy
        record.update({
            "id": message.id,
            "issuer": message.issuer.text if message.issuer is not None else None,
            "destination": message.destination,
            "force_authn": message.force_authn,
            "name_id_policy": None if policy is None else {"format": policy.format, "allow_create": policy.allow_create},
        })
        resp_args = SERVER.response_args(message, [BINDING_HTTP_POST])
        record["acs"] = resp_args.get("destination")
    except Exception as err:  # noqa: BLE001 - pysaml2's refusal, recorded and shown
        record["error"] = f"{type(err).__name__}: {err}"
        REQUESTS.append(record)
        return 400, page("Error", f'<h1>The sign-in request was refused</h1><p id="error">{html.escape(record["error"])}</p>')
    REQUESTS.append(record)
    key = uuid.uuid4().hex
    with LOCK:
        PENDING[key] = (resp_args, relay_state, record)
    return 200, login_page(key)


def login(form: dict) -> tuple[int, str]:
    key = (form.get("key") or [""])[0]
    username = (form.get("username") or [""])[0]
    password = (form.get("password") or [""])[0]
    with LOCK:
        pending = PENDING.get(key)
    if pending is None:
        return 400, page("Error", "<h1>This sign-in form was used already or is unknown</h1>")
    user = CFG["users"].get(username)
    if user is None or user["password"] != password:
        return 200, login_page(key, username, "Wrong user name or password.")
    with LOCK:
        PENDING.pop(key, None)
    resp_args, relay_state, request = pending
    resp_args = dict(resp_args)
    resp_args.pop("binding", None)
    destination = resp_args["destination"]
    name_id = NameID(format=NAMEID_FORMAT_PERSISTENT, text=persistent_id(username), name_qualifier=ENTITY_ID,
                     sp_name_qualifier=resp_args["sp_entity_id"])
    identity = {"mail": [user["mail"]], "displayName": [user["name"]], "givenName": [user["given"]], "sn": [user["surname"]]}
    response = SERVER.create_authn_response(
        identity, resp_args["in_response_to"], destination, resp_args["sp_entity_id"],
        name_id_policy=resp_args.get("name_id_policy"), name_id=name_id,
        authn={"class_ref": PPT, "authn_instant": int(time.time())},
        sign_response=True, sign_assertion=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
    RESPONSES.append({"request_id": request.get("id"), "user": username, "name_id": name_id.text, "acs": destination})
    http_args = SERVER.apply_binding(BINDING_HTTP_POST, str(response), destination, relay_state, response=True)
    return 200, http_args["data"]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.command, self.path.split("?")[0]))

    def _send(self, status: int, body: str, content_type: str = "text/html; charset=utf-8"):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        try:
            if url.path == "/metadata":
                self._send(200, METADATA_XML, "application/samlmetadata+xml")
            elif url.path == "/sso/redirect":
                self._send(*authn_request(parse_qs(url.query, keep_blank_values=True)))
            elif url.path == "/_test/requests":
                self._send(200, json.dumps({"requests": REQUESTS, "responses": RESPONSES}), "application/json")
            else:
                self._send(404, page("Not found", "<h1>Not found</h1>"))
        except Exception as err:  # noqa: BLE001
            self._send(500, page("Error", f'<h1>IdP error</h1><p id="error">{html.escape(repr(err))}</p>'))

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8"), keep_blank_values=True)
        try:
            if urlsplit(self.path).path == "/login":
                self._send(*login(form))
            else:
                self._send(404, page("Not found", "<h1>Not found</h1>"))
        except Exception as err:  # noqa: BLE001
            self._send(500, page("Error", f'<h1>IdP error</h1><p id="error">{html.escape(repr(err))}</p>'))


server = ThreadingHTTPServer(("127.0.0.1", CFG["port"]), Handler)
server.daemon_threads = True
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print(json.dumps({"ready": True, "entity_id": ENTITY_ID}), flush=True)
server.serve_forever()
