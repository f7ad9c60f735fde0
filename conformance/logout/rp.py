"""A relying party's back-channel logout endpoint (OIDC Back-Channel Logout 1.0 §2.5-2.8):
it receives `logout_token=...` form posts, validates each token with PyJWT against the OP's
JWKS as §2.6 says an RP must (signature, iss, aud, iat, exp, typ, events, no nonce, sub or sid)
and answers 200 when it is valid, 400 when it is not. What it saw is kept for the suite."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt

EVENT = "http://schemas.openid.net/event/backchannel-logout"


def validate(token: str, issuer: str, client_id: str, jwks: jwt.PyJWKClient) -> dict:
    """The claims of a valid logout token; raises ValueError (or a PyJWT error) otherwise."""
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "logout+jwt":
        raise ValueError(f"typ is {header.get('typ')!r}, not logout+jwt")
    if header.get("alg") not in ("RS256", "ES256"):
        raise ValueError(f"unexpected alg {header.get('alg')!r}")
    key = jwks.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=[header["alg"]], audience=client_id, issuer=issuer,
                        options={"require": ["iss", "aud", "iat", "exp", "jti", "events"]}, leeway=30)
    events = claims.get("events")
    if not isinstance(events, dict) or events.get(EVENT) != {}:
        raise ValueError(f"events is {events!r}")
    if "nonce" in claims:
        raise ValueError("a logout token must not carry a nonce")
    if not claims.get("sub") and not claims.get("sid"):
        raise ValueError("neither sub nor sid")
    return claims


class Receiver:
    """The RP's endpoint on a free loopback port."""

    def __init__(self, issuer: str, client_id: str, jwks_url: str) -> None:
        self.issuer, self.client_id = issuer, client_id
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=False)
        self.valid: list[dict] = []
        self.invalid: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                kind = self.headers.get("Content-Type", "")
                tokens = parse_qs(body).get("logout_token", [])
                status = 400
                try:
                    if not kind.startswith("application/x-www-form-urlencoded"):
                        raise ValueError(f"Content-Type {kind}")
                    if len(tokens) != 1:
                        raise ValueError("not exactly one logout_token")
                    claims = validate(tokens[0], receiver.issuer, receiver.client_id, receiver.jwks)
                    with receiver.lock:
                        receiver.valid.append(claims)
                    status = 200
                except Exception as e:  # noqa: BLE001 (any failure is an invalid token)
                    with receiver.lock:
                        receiver.invalid.append(str(e))
                self.send_response(status)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
