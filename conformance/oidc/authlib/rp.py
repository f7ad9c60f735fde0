"""Gatehouse OIDC conformance: Authlib (Python) signs in, independently of the Node suite.

Protocol work is Authlib's: OAuth2Session with PKCE S256 (create_authorization_url, fetch_token,
refresh_token, the bearer-authenticated userinfo call) and authlib.jose for the ID token (signature
against the published JWKS with an RS256 allow-list, iss, aud, nonce, exp, iat, at_hash). The only
hand-written HTTP is the "browser": a requests.Session that follows Gatehouse's redirects by hand
and fills in the sign-in forms, sending no header by hand that the page did not cause: the Fetch
Metadata and Origin Chromium would send, derived from each page by ../../lib/navigation.py.

Usage: python rp.py CONFIG.json   (written by ../run.sh)
Exits non-zero on the first failed check.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import time
import traceback
import warnings
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
from navigation import Browser  # noqa: E402

# authlib.jose is deprecated in favour of joserfc but remains supported until Authlib 2.0; the
# point of this suite is to exercise Authlib's own JOSE stack, so silence only that notice.
# (authlib.deprecate installs an "always" filter when imported: import it first, then ours wins.)
import authlib.deprecate  # noqa: E402,F401

warnings.filterwarnings("ignore", message=".*authlib.jose module is deprecated.*")

from authlib.common.security import generate_token  # noqa: E402
from authlib.integrations.base_client.errors import OAuthError  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.jose import JsonWebKey, JsonWebToken  # noqa: E402
from authlib.jose.errors import BadSignatureError, InvalidClaimError, JoseError  # noqa: E402
from authlib.oidc.core import CodeIDToken, IDToken  # noqa: E402
from joserfc import errors as joserfc_errors  # noqa: E402

# Authlib 1.9's OIDC claim classes raise joserfc's errors; authlib.jose has its own.
CLAIM_ERRORS = (InvalidClaimError, joserfc_errors.InvalidClaimError)

TIMEOUT = 30
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
    ok(f"{message} ({json.dumps(actual)})")


def expect_oauth_error(fn, code: str, message: str) -> None:
    try:
        result = fn()
    except OAuthError as err:
        if err.error != code:
            fail(f"{message}: expected error {code}, got {err.error}", {"description": err.description})
        ok(f"{message} ({code})")
        return
    fail(f"{message}: expected error {code}, but the call succeeded", dict(result) if result else None)


# --------------------------------------------------------------------------- the headless browser
class FormParser(HTMLParser):
    """Collects every <form>: method, action, hidden inputs, other input names, buttons."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k.lower(): (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = {
                "method": a.get("method", "get").lower(),
                "action": a.get("action", ""),
                "hidden": {},
                "inputs": [],
                "buttons": [],
            }
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            if a.get("type", "text").lower() == "hidden":
                self._form["hidden"][a["name"]] = a.get("value", "")
            else:
                self._form["inputs"].append(a["name"])
        elif tag == "button" and self._form is not None and a.get("name"):
            self._form["buttons"].append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def parse_forms(html: str, base_url: str) -> list[dict]:
    parser = FormParser()
    parser.feed(html)
    for form in parser.forms:
        form["action"] = urljoin(base_url, form["action"] or base_url)
    return parser.forms


def same_endpoint(a: str, b: str) -> bool:
    x, y = urlsplit(a), urlsplit(b)
    return (x.scheme, x.netloc, x.path) == (y.scheme, y.netloc, y.path)


def run_browser(browser: Browser, start_url: str, redirect_uri: str, email: str | None = None,
                password: str | None = None, max_steps: int = 12) -> str:
    """Follows Gatehouse from an authorization URL to the redirect back to the client; returns it."""
    method, url, data = "GET", start_url, None
    trail: list[str] = []
    for _ in range(max_steps):
        res = browser.request(method, url, data, timeout=TIMEOUT)
        location = res.headers.get("Location")
        trail.append(f"{method} {url} -> {res.status_code} {location or ''}")
        if res.is_redirect or 300 <= res.status_code < 400:
            if not location:
                fail(f"redirect {res.status_code} without Location", trail)
            if method == "POST" and res.status_code != 303:
                fail(f"a POST that redirects must answer 303 (SECURITY A.11), got {res.status_code}", trail)
            target = urljoin(url, location)
            if same_endpoint(target, redirect_uri):
                return target
            method, url, data = "GET", target, None
            continue
        if res.status_code != 200:
            fail(f"unexpected HTTP {res.status_code} from {url}", {"trail": trail, "body": res.text[:2000]})
        forms = parse_forms(res.text, url)
        form = next((f for f in forms if f["method"] == "post" and "step" in f["hidden"]), None)
        if form is None:
            fail(f"page has no sign-in form: {url}", {"trail": trail, "body": res.text[:2000]})
        fields = dict(form["hidden"])
        stage = fields["step"]
        if stage == "identify":
            if "email" not in form["inputs"]:
                fail("identify step has no email input", form)
            fields["email"] = email
        elif stage == "password":
            if "password" not in form["inputs"]:
                fail("password step has no password input", form)
            fields["password"] = password
        elif stage == "consent":
            fields["decision"] = "allow"
        else:
            fail(f"unknown sign-in step {stage}", {"trail": trail, "body": res.text[:2000]})
        if email is None and stage in ("identify", "password"):
            fail("a sign-in page was shown where none was expected", trail)
        method, url, data = "POST", form["action"], fields
    fail(f"sign-in did not finish within {max_steps} requests", trail)
    raise AssertionError  # unreachable


def query(url: str) -> dict[str, str]:
    params = parse_qs(urlsplit(url).query, keep_blank_values=True)
    for name, values in params.items():
        if len(values) != 1:
            fail(f"parameter {name} appears {len(values)} times in the authorization response", url)
    return {k: v[0] for k, v in params.items()}


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


# -------------------------------------------------------------------------------------- the run
def main(cfg: dict) -> None:
    issuer = cfg["issuer"]
    app = cfg["apps"]["authlib"]
    user = cfg["user"]

    step("discovery")
    res = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT)
    check_equal(res.status_code, 200, "discovery document served")
    meta = res.json()
    check_equal(meta["issuer"], issuer, "issuer equals the discovery URL prefix")
    check("S256" in meta.get("code_challenge_methods_supported", []), "S256 advertised")
    res = requests.get(meta["jwks_uri"], timeout=TIMEOUT)
    check_equal(res.status_code, 200, "JWKS served")
    jwks = res.json()
    kids = [k.get("kid") for k in jwks.get("keys", [])]
    check(kids and all(isinstance(k, str) and k for k in kids) and len(set(kids)) == len(kids),
          "every JWKS key has a kid, all distinct (RFC 7517 §4.5; tokens name their key by kid)", jwks)
    key_set = JsonWebKey.import_key_set(jwks)
    ok(f"authlib imported {len(key_set.keys)} JWKS key(s)")
    rs256 = JsonWebToken(["RS256"])  # algorithm allow-list: what this client registered for

    step("authorization code flow with PKCE S256 (OAuth2Session, client_secret_basic)")
    session = OAuth2Session(
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        scope="openid profile email offline_access",
        redirect_uri=app["redirect_uri"],
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    code_verifier = generate_token(64)
    nonce = generate_token(24)
    auth_url, state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce
    )
    sent = query(auth_url)
    check_equal(sent.get("code_challenge_method"), "S256", "Authlib sent code_challenge_method")
    check(bool(sent.get("code_challenge")), "Authlib sent a code_challenge")

    browser = Browser()
    callback = run_browser(browser, auth_url, app["redirect_uri"], user["email"], user["password"])
    check("gh_session" in browser.session.cookies.keys(), "a gh_session cookie exists after sign-in",
          browser.session.cookies.keys())
    params = query(callback)
    check_equal(params.get("iss"), issuer, "authorization response carries iss (RFC 9207)")
    check_equal(params.get("state"), state, "state echoed")
    check("code" in params, "authorization response has a code", params)

    token = session.fetch_token(
        meta["token_endpoint"], authorization_response=callback, state=state, code_verifier=code_verifier
    )
    ok("Authlib fetch_token exchanged the code (Authlib compared state, sent the code_verifier)")
    check_equal(str(token.get("token_type", "")).lower(), "bearer", "token_type")
    for name in ("access_token", "id_token", "refresh_token"):
        check(isinstance(token.get(name), str) and token[name], f"token response has {name}")

    step("ID token validation with authlib.jose against the JWKS")
    header = json.loads(base64.urlsafe_b64decode(token["id_token"].split(".")[0] + "=="))
    check(header.get("kid") in kids, "the ID token's kid resolves in the JWKS", {"header": header, "jwks_kids": kids})
    id_options = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": app["client_id"]},
    }
    claims = rs256.decode(
        token["id_token"],
        key_set,
        claims_cls=CodeIDToken,
        claims_options=id_options,
        claims_params={"nonce": nonce, "client_id": app["client_id"], "access_token": token["access_token"]},
    )
    ok("signature verifies (RS256 only) against the published JWKS")
    claims.validate(leeway=30)
    ok("CodeIDToken.validate: iss, aud, exp, iat, nonce, azp, at_hash")
    check_equal(claims.header.get("alg"), "RS256", "ID token alg")
    check_equal(claims["nonce"], nonce, "nonce echoed")
    check_equal(claims.get("at_hash"), at_hash(token["access_token"]), "at_hash recomputed independently")
    check(claims["exp"] > time.time(), "exp in the future")
    for name in ("tid", "oid", "sid"):
        check(isinstance(claims.get(name), str) and claims[name], f"ID token has {name}")
    check("pwd" in (claims.get("amr") or []), "amr includes pwd", claims.get("amr"))
    check_equal(claims.get("acr"), "https://refeds.org/profile/sfa", "acr")
    check_equal(claims.get("email"), user["email"], "email claim (scope email)")
    sub = claims["sub"]

    # The same validation must refuse what it should refuse, or it proves nothing.
    try:
        rs256.decode(
            token["id_token"], key_set, claims_cls=CodeIDToken, claims_options=id_options,
            claims_params={"nonce": "another-nonce", "client_id": app["client_id"]},
        ).validate(leeway=30)
        fail("a wrong nonce was accepted")
    except CLAIM_ERRORS as err:
        check("nonce" in str(err), "the same ID token is refused with a different expected nonce", str(err))
    try:
        rs256.decode(
            token["id_token"], key_set, claims_cls=CodeIDToken,
            claims_options={**id_options, "iss": {"essential": True, "value": issuer + "-other"}},
            claims_params={"nonce": nonce, "client_id": app["client_id"]},
        ).validate(leeway=30)
        fail("a wrong issuer was accepted")
    except CLAIM_ERRORS as err:
        check("iss" in str(err), "the same ID token is refused for a different expected issuer", str(err))
    head, body, sig = token["id_token"].split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[len(raw) // 2] ^= 1
    broken = f"{head}.{body}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"
    try:
        rs256.decode(broken, key_set)
        fail("a tampered signature was accepted")
    except BadSignatureError:
        ok("a tampered signature is refused")

    step("access token (RFC 9068 JWT) verified with authlib.jose")
    at_claims = JsonWebToken(["RS256"]).decode(token["access_token"], key_set)
    check_equal(at_claims.header.get("typ"), "at+jwt", "access token typ")
    check_equal(at_claims.get("iss"), issuer, "access token iss")
    check_equal(at_claims.get("client_id"), app["client_id"], "access token client_id")
    check_equal(at_claims.get("sub"), sub, "access token sub equals ID token sub")

    step("userinfo")
    res = session.get(meta["userinfo_endpoint"], timeout=TIMEOUT)
    check_equal(res.status_code, 200, "GET userinfo with the session's bearer token")
    check(res.headers.get("Content-Type", "").startswith("application/json"), "userinfo is JSON", res.headers.get("Content-Type"))
    info = res.json()
    check_equal(info.get("sub"), sub, "userinfo sub equals ID token sub")
    check_equal(info.get("email"), user["email"], "userinfo email")
    check_equal(info.get("name"), user["name"], "userinfo name")
    res = session.post(meta["userinfo_endpoint"], timeout=TIMEOUT)
    check_equal(res.status_code, 200, "POST userinfo with a Bearer header (OIDC §5.3.1)")
    check_equal(res.json().get("sub"), sub, "POST userinfo sub")
    res = requests.get(meta["userinfo_endpoint"], headers={"Authorization": "Bearer not-a-token"}, timeout=TIMEOUT)
    check_equal(res.status_code, 401, "an invalid bearer token gets 401")
    check("Bearer" in res.headers.get("WWW-Authenticate", ""), "401 carries WWW-Authenticate: Bearer", dict(res.headers))

    step("refresh")
    old_rt = token["refresh_token"]
    old_at = token["access_token"]
    new = session.refresh_token(meta["token_endpoint"], refresh_token=old_rt)
    ok("Authlib refresh_token succeeded")
    check(new.get("refresh_token") and new["refresh_token"] != old_rt, "a new refresh token, different from the old one")
    check(new.get("access_token") and new["access_token"] != old_at, "a new access token")
    if new.get("id_token"):
        refreshed = rs256.decode(new["id_token"], key_set, claims_cls=IDToken, claims_options=id_options,
                                 claims_params={"client_id": app["client_id"]})
        refreshed.validate(leeway=30)
        ok("refreshed ID token verifies and validates (iss, aud, exp, iat)")
        check_equal(refreshed["sub"], sub, "refreshed ID token keeps sub (OIDC §12.2)")
        check_equal(refreshed.get("auth_time"), claims.get("auth_time"), "refreshed ID token keeps auth_time")
    res = session.get(meta["userinfo_endpoint"], timeout=TIMEOUT)
    check_equal(res.status_code, 200, "userinfo with the refreshed access token")
    check_equal(res.json().get("sub"), sub, "userinfo sub after refresh")
    expect_oauth_error(lambda: session.refresh_token(meta["token_endpoint"], refresh_token=old_rt),
                       "invalid_grant", "the old refresh token is refused")

    step("RP-initiated logout")
    logout = meta["end_session_endpoint"] + "?" + urlencode(
        {"id_token_hint": token["id_token"], "post_logout_redirect_uri": app["post_logout_redirect_uri"],
         "state": "authlib-logout"})
    res = browser.request("GET", logout, timeout=TIMEOUT)
    check_equal(res.status_code, 303, "end_session answers 303")
    back = urljoin(meta["end_session_endpoint"], res.headers.get("Location", ""))
    check(same_endpoint(back, app["post_logout_redirect_uri"]), "redirected to the registered post-logout URI", back)
    check_equal(query(back).get("state"), "authlib-logout", "logout state echoed")
    url, silent_state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=generate_token(64), nonce=generate_token(24), prompt="none"
    )
    params = query(run_browser(browser, url, app["redirect_uri"], max_steps=2))
    check_equal(params.get("error"), "login_required", "prompt=none after logout gives login_required")
    check_equal(params.get("iss"), issuer, "error response carries iss")
    check_equal(params.get("state"), silent_state, "error response carries state")


if __name__ == "__main__":
    config_path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CONFORMANCE_CONFIG")
    if not config_path:
        print("usage: python rp.py CONFIG.json", file=sys.stderr)
        sys.exit(2)
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    started = time.time()
    try:
        main(config)
    except CheckFailed as err:
        print(f"\nFAIL {err}", file=sys.stderr)
        print(f"{passed} passed, 1 failed")
        sys.exit(1)
    except (OAuthError, JoseError, requests.RequestException, Exception) as err:  # noqa: BLE001
        print(f"\nFAIL [{current_step}] unexpected error: {type(err).__name__}: {err}", file=sys.stderr)
        traceback.print_exc()
        print(f"{passed} passed, 1 failed")
        sys.exit(1)
    print(f"\nauthlib: {passed} checks passed in {time.time() - started:.1f} s")
    print(f"{passed} passed, 0 failed")
