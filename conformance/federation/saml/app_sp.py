"""The app: a python3-saml (OneLogin) service provider of Gatehouse's own SAML IdP, served on a
loopback port so that the browser really posts Gatehouse's Response to it.

- GET  /               the app's landing page (the invitations' inviteRedirectUrl).
- POST /saml/acs       the AssertionConsumerService: python3-saml validates the Response in strict
                       mode (schema, Destination, Audience, Issuer, InResponseTo of the request this
                       app sent, times, SubjectConfirmation, Response AND Assertion signatures,
                       rejectDeprecatedAlgorithm) and the outcome is recorded for the journey.

`login_url()` is python3-saml's login(): a signed HTTP-Redirect AuthnRequest (RSA-SHA256) to
Gatehouse's SSO endpoint; the app remembers the request ID under the RelayState it sent.
"""

from __future__ import annotations

import html
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.errors import OneLogin_Saml2_Error, OneLogin_Saml2_ValidationError
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"


class App:
    def __init__(self, *, port: int, entity_id: str, acs: str, cert_file: str, key_file: str,
                 idp_metadata_xml: str):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.entity_id = entity_id
        self.acs = acs
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(idp_metadata_xml)
        self.idp = parsed["idp"]
        with open(cert_file, encoding="ascii") as f:
            sp_cert = f.read()
        with open(key_file, encoding="ascii") as f:
            sp_key = f.read()
        self.settings = {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": entity_id,
                "assertionConsumerService": {"url": acs, "binding": C.BINDING_HTTP_POST},
                "NameIDFormat": NAMEID_PERSISTENT,
                "x509cert": sp_cert,
                "privateKey": sp_key,
            },
            "idp": self.idp,
            "security": {
                "authnRequestsSigned": True,
                "wantMessagesSigned": True,
                "wantAssertionsSigned": True,
                "wantAssertionsEncrypted": False,
                "wantNameId": True,
                "wantNameIdEncrypted": False,
                "wantAttributeStatement": True,
                # No RequestedAuthnContext: the app takes what Gatehouse did (password or MFA)
                # and the journey checks the AuthnContextClassRef itself.
                "requestedAuthnContext": False,
                "signatureAlgorithm": C.RSA_SHA256,
                "digestAlgorithm": C.SHA256,
                "rejectDeprecatedAlgorithm": True,
                "wantXMLValidation": True,
                "allowRepeatAttributeName": False,
                "rejectUnsolicitedResponsesWithInResponseTo": True,
            },
        }
        self.outstanding: dict[str, str] = {}  # RelayState -> AuthnRequest ID
        self.results: list[dict] = []          # one per POST to the ACS
        self.hits: list[str] = []
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, name="app", daemon=True).start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def _request_data(self, post: dict | None = None) -> dict:
        u = urlsplit(self.acs)
        return {"https": "off", "http_host": u.hostname, "server_port": str(u.port or 80),
                "script_name": u.path, "get_data": {}, "post_data": post or {}}

    def login_url(self, *, force_authn: bool = False) -> tuple[str, str, str]:
        """python3-saml's login(): (URL at Gatehouse, request ID, RelayState)."""
        relay = "app-" + secrets.token_urlsafe(12)
        auth = OneLogin_Saml2_Auth(self._request_data(), self.settings)
        url = auth.login(return_to=relay, force_authn=force_authn)
        request_id = auth.get_last_request_id()
        with self._lock:
            self.outstanding[relay] = request_id
        return url, request_id, relay

    def _consume(self, fields: dict) -> dict:
        relay = fields.get("RelayState")
        with self._lock:
            request_id = self.outstanding.pop(relay, None) if relay else None
        result = {"relay_state": relay, "request_id": request_id, "ok": False,
                  "saml_response": fields.get("SAMLResponse", "")}
        if request_id is None:
            result["error"] = "no outstanding AuthnRequest for this RelayState"
            return result
        auth = OneLogin_Saml2_Auth(self._request_data(fields), self.settings)
        try:
            auth.process_response(request_id=request_id)
        except (OneLogin_Saml2_Error, OneLogin_Saml2_ValidationError) as err:
            result["error"] = f"{type(err).__name__}: {err}"
            return result
        if auth.get_errors() or not auth.is_authenticated():
            result["error"] = f"{auth.get_errors()}: {auth.get_last_error_reason()}"
            return result
        result.update({
            "ok": True,
            "name_id": auth.get_nameid(),
            "name_id_format": auth.get_nameid_format(),
            "attributes": auth.get_attributes(),
            "session_index": auth.get_session_index(),
            "in_response_to": auth.get_last_response_in_response_to(),
            "authn_contexts": auth.get_last_authn_contexts(),
            "assertion_id": auth.get_last_assertion_id(),
        })
        return result

    def _handler(self):
        app = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: str):
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                app.hits.append(f"GET {self.path}")
                if urlsplit(self.path).path == "/":
                    self._send(200, "<!doctype html><title>Supplier portal</title><p>supplier portal</p>")
                else:
                    self._send(404, "not found")

            def do_POST(self):  # noqa: N802
                app.hits.append(f"POST {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode("utf-8"),
                                                     keep_blank_values=True).items()}
                if urlsplit(self.path).path != urlsplit(app.acs).path:
                    self._send(404, "not found")
                    return
                try:
                    result = app._consume(form)
                except Exception as err:  # noqa: BLE001
                    result = {"ok": False, "error": f"{type(err).__name__}: {err}",
                              "relay_state": form.get("RelayState")}
                app.results.append(result)
                if result["ok"]:
                    self._send(200, f"<!doctype html><title>Supplier portal</title><p>signed in: "
                                    f"{html.escape(str(result['name_id']))}</p>")
                else:
                    self._send(403, f"<!doctype html><title>Supplier portal</title><p>refused: "
                                    f"{html.escape(result['error'])}</p>")

        return Handler
