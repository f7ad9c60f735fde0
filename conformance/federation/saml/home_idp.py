"""A guest's home SAML identity provider: pysaml2's Server (saml2.server.Server) behind a tiny
HTTP server on a loopback port. Nobody on this project wrote the SAML part: pysaml2 parses and
checks Gatehouse's AuthnRequests (HTTP-Redirect binding; Destination, the SP in its metadata, the
ACS the SP metadata lists), and builds and signs the Responses (create_authn_response /
create_error_response, XML-DSig through the Debian xmlsec1 binary, RSA-SHA256 with SHA-256
digests) and the HTTP-POST binding's auto-post form (apply_binding).

- GET  /metadata      the IdP's metadata (saml2.metadata.entity_descriptor): its entityID is this
                      URL, a signing certificate, an HTTP-Redirect SingleSignOnService.
- GET  /sso/redirect  an AuthnRequest (SAMLRequest, RelayState): parsed and recorded, then a
                      login form (user name and password).
- POST /login         the login form: a signed Response for the user (persistent NameID, the
                      user's address in `mail`, AuthnContextClassRef and AuthnInstant), or for a
                      disabled account a signed error Response (Responder / AuthnFailed), as the
                      auto-post form to the ACS.

The journey steers what the next Response looks like through `behaviour` (one-shot): the
AuthnContextClassRef, an AuthnInstant in the past, and for the negative controls a SHA-1
signature, no signature, a transient NameID, another audience, a comment or a DOCTYPE.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import html
import logging
import os
import shutil
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
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, samlp  # noqa: E402
from saml2.config import IdPConfig  # noqa: E402
from saml2.metadata import entity_descriptor  # noqa: E402
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT, NameID  # noqa: E402
from saml2.server import Server  # noqa: E402
from saml2.xmldsig import DIGEST_SHA1, DIGEST_SHA256, SIG_RSA_SHA1, SIG_RSA_SHA256  # noqa: E402

# pysaml2 logs every refusal at ERROR level; the journey reports what matters itself.
logging.getLogger("saml2").setLevel(logging.CRITICAL)

PPT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def keypair(directory: str, name: str) -> tuple[str, str]:
    """A fresh RSA-2048 key and a self-signed SHA-256 certificate (PEM files)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} SAML IdP (conformance)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2)).sign(key, hashes.SHA256()))
    key_file, cert_file = os.path.join(directory, f"{name}.key"), os.path.join(directory, f"{name}.crt")
    with open(key_file, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


class HomeIdp:
    """One partner organisation's IdP. `users`: user name -> {mail, name, given, surname,
    password, enabled}. `sp_metadata_files`: the SPs it knows (Gatehouse's, and another SP whose
    entityID the audience knob uses)."""

    def __init__(self, *, name: str, port: int, work: str, sp_metadata_files: list[str], users: dict):
        self.name = name
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.entity_id = f"{self.base}/metadata"
        self.metadata_url = self.entity_id
        self.sso_url = f"{self.base}/sso/redirect"
        self.users = users
        self.requests: list[dict] = []   # the AuthnRequests received, as pysaml2 parsed them
        self.responses: list[dict] = []  # what the IdP answered (status, user, knobs)
        self.behaviour: dict = {}        # one-shot knobs for the next Response
        self._pending: dict[str, tuple] = {}
        self._lock = threading.Lock()
        directory = os.path.join(work, "idp-" + name.lower())
        os.makedirs(directory, exist_ok=True)
        self.key_file, self.cert_file = keypair(directory, name.lower())
        xmlsec = shutil.which("xmlsec1")
        if not xmlsec:
            raise SystemExit("xmlsec1 is not on PATH (Debian package xmlsec1)")
        config = IdPConfig()
        config.load({
            "entityid": self.entity_id,
            "xmlsec_binary": xmlsec,
            "crypto_backend": "xmlsec1",
            "key_file": self.key_file,
            "cert_file": self.cert_file,
            "metadata": {"local": list(sp_metadata_files)},
            # pysaml2 signs with RSA-SHA1 unless told otherwise (PEERS.md).
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "allow_unknown_attributes": True,
            "service": {
                "idp": {
                    "name": f"{name} home IdP (pysaml2)",
                    "endpoints": {"single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]},
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT],
                    # Gatehouse signs its AuthnRequests (RSA-SHA256, HTTP-Redirect): pysaml2
                    # verifies them against the certificates of Gatehouse's SP metadata.
                    "want_authn_requests_signed": True,
                    "sign_response": True,
                    "sign_assertion": True,
                    "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None,
                                           "name_form": NAME_FORMAT_URI}},
                }
            },
        })
        self.config = config
        self.server = Server(config=config)
        self.metadata_xml = str(entity_descriptor(config))
        self._http = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name=f"idp-{name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def persistent_id(self, username: str) -> str:
        """The user's persistent NameID: opaque and stable."""
        return hashlib.sha256(f"{self.entity_id}|{username}".encode()).hexdigest()[:40]

    # -------------------------------------------------------------------------------- protocol
    def _authn_request(self, query: dict) -> tuple[int, str]:
        saml_request = (query.get("SAMLRequest") or [None])[0]
        relay_state = (query.get("RelayState") or [None])[0]
        if not saml_request:
            return 400, "no SAMLRequest"
        record = {"relay_state": relay_state, "signed_query": "Signature" in query,
                  "sig_alg": (query.get("SigAlg") or [None])[0], "at": time.time()}
        try:
            req = self.server.parse_authn_request(
                saml_request, BINDING_HTTP_REDIRECT, relay_state=relay_state,
                sigalg=(query.get("SigAlg") or [None])[0], signature=(query.get("Signature") or [None])[0])
        except Exception as err:  # noqa: BLE001 - pysaml2's refusal, recorded for the journey
            record["error"] = f"{type(err).__name__}: {err}"
            self.requests.append(record)
            return 400, f"pysaml2 refused the AuthnRequest: {html.escape(record['error'])}"
        message = req.message
        policy = message.name_id_policy
        record.update({
            "id": message.id,
            "xml": req.xmlstr.decode("utf-8") if isinstance(req.xmlstr, bytes) else str(req.xmlstr),
            "issuer": message.issuer.text if message.issuer is not None else None,
            "destination": message.destination,
            "acs_url": message.assertion_consumer_service_url,
            "protocol_binding": message.protocol_binding,
            "force_authn": message.force_authn,
            "is_passive": message.is_passive,
            "name_id_policy": None if policy is None else {"format": policy.format, "allow_create": policy.allow_create},
            "requested_authn_context": None if message.requested_authn_context is None else str(message.requested_authn_context),
            "signature": message.signature is not None,
        })
        try:
            resp_args = self.server.response_args(message, [BINDING_HTTP_POST])
        except Exception as err:  # noqa: BLE001
            record["error"] = f"response_args: {type(err).__name__}: {err}"
            self.requests.append(record)
            return 400, f"pysaml2 cannot answer the AuthnRequest: {html.escape(record['error'])}"
        record["destination_out"] = resp_args.get("destination")
        self.requests.append(record)
        key = uuid.uuid4().hex
        with self._lock:
            self._pending[key] = (resp_args, relay_state, record)
        page = (f"<!doctype html><title>{html.escape(self.name)} sign-in</title>"
                f"<h1>Sign in to {html.escape(self.name)}</h1>"
                f'<form method="post" action="/login"><input type="hidden" name="key" value="{key}">'
                '<label>User name <input name="username"></label>'
                '<label>Password <input type="password" name="password"></label>'
                "<button type=\"submit\">Sign in</button></form>")
        return 200, page

    def _login(self, form: dict) -> tuple[int, str]:
        key = (form.get("key") or [""])[0]
        username = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        with self._lock:
            pending = self._pending.pop(key, None)
            knobs, self.behaviour = self.behaviour, {}
        if pending is None:
            return 400, "unknown or used login form"
        resp_args, relay_state, request = pending
        resp_args = dict(resp_args)
        resp_args.pop("binding", None)
        destination = resp_args["destination"]
        user = self.users.get(username)
        outcome = {"request_id": request.get("id"), "user": username, "knobs": sorted(knobs)}
        sha1 = knobs.get("sha1", False)
        sign_alg = SIG_RSA_SHA1 if sha1 else SIG_RSA_SHA256
        digest_alg = DIGEST_SHA1 if sha1 else DIGEST_SHA256
        if user is None or user.get("password") != password or not user.get("enabled", True):
            reason = "account disabled" if user is not None and not user.get("enabled", True) else "wrong user name or password"
            response = self.server.create_error_response(
                resp_args["in_response_to"], destination, (samlp.STATUS_AUTHN_FAILED, reason),
                sign=True, sign_alg=sign_alg, digest_alg=digest_alg)
            outcome["status"] = [samlp.STATUS_RESPONDER, samlp.STATUS_AUTHN_FAILED]
        else:
            sp_entity_id = knobs.get("audience", resp_args["sp_entity_id"])
            name_id = NameID(
                format=NAMEID_FORMAT_TRANSIENT if knobs.get("transient") else NAMEID_FORMAT_PERSISTENT,
                text=("_" + uuid.uuid4().hex) if knobs.get("transient") else self.persistent_id(username),
                name_qualifier=self.entity_id, sp_name_qualifier=resp_args["sp_entity_id"])
            identity = {"mail": [user["mail"]], "displayName": [user["name"]],
                        "givenName": [user["given"]], "sn": [user["surname"]]}
            authn = {"class_ref": knobs.get("class_ref", PPT), "authn_instant": int(time.time()) + knobs.get("instant_offset", 0)}
            signed = not knobs.get("unsigned", False)
            response = self.server.create_authn_response(
                identity, resp_args["in_response_to"], destination, sp_entity_id,
                name_id_policy=resp_args.get("name_id_policy"), name_id=name_id, authn=authn,
                sign_response=signed, sign_assertion=signed, sign_alg=sign_alg, digest_alg=digest_alg)
            outcome.update({"status": [samlp.STATUS_SUCCESS], "name_id": name_id.text, "class_ref": authn["class_ref"],
                            "authn_instant": authn["authn_instant"]})
        xml = str(response)
        if knobs.get("comment"):
            # A comment inside the signed mail value: exclusive c14n drops comments, so the
            # signature still verifies; only a rule against comments catches it.
            # The text stays the same once the comment is dropped ("alice@<!-- x -->contoso.test"),
            # while a parser that reads only the first text node sees "alice@".
            local, domain = user["mail"].split("@", 1)
            xml = xml.replace(f">{local}@{domain}<", f">{local}@<!-- x -->{domain}<", 1)
        if knobs.get("doctype"):
            declaration = ""
            if xml.startswith("<?xml"):
                declaration, xml = xml[: xml.index("?>") + 2], xml[xml.index("?>") + 2:]
            xml = declaration + '<!DOCTYPE Response [<!ENTITY who "x">]>' + xml.lstrip()
        outcome["xml"] = xml
        self.responses.append(outcome)
        http_args = self.server.apply_binding(BINDING_HTTP_POST, xml, destination, relay_state, response=True)
        return 200, http_args["data"]

    # -------------------------------------------------------------------------------- HTTP
    def _handler(self):
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

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
                        self._send(200, idp.metadata_xml, "application/samlmetadata+xml")
                    elif url.path == "/sso/redirect":
                        self._send(*idp._authn_request(parse_qs(url.query, keep_blank_values=True)))
                    else:
                        self._send(404, "not found")
                except Exception as err:  # noqa: BLE001
                    self._send(500, f"IdP error: {html.escape(repr(err))}")

            def do_POST(self):  # noqa: N802
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode("utf-8"), keep_blank_values=True)
                try:
                    if url.path == "/login":
                        self._send(*idp._login(form))
                    else:
                        self._send(404, "not found")
                except Exception as err:  # noqa: BLE001
                    idp.responses.append({"error": repr(err)})
                    self._send(500, f"IdP error: {html.escape(repr(err))}")

        return Handler


def decode_post_response(saml_response: str) -> str:
    return base64.b64decode(saml_response).decode("utf-8")
