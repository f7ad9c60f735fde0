"""Sign-out reaches every app, at once, on every node: two Gatehouse nodes on one Postgres and
one Redis; a web app registers a back-channel logout URI served by rp.py (which validates each
logout token with PyJWT against the JWKS) through Graph PATCH /applications/{id}; a guest
(invited through Graph, redeemed with their home identity: a member of another tenant on the
same Gatehouse) signs in to it through node A and holds a refresh token; the guest is disabled
through node B (Graph PATCH /users/{id} {"accountEnabled": false}); at once, the refresh token
fails on node A (invalid_grant), node A's browser session is gone (prompt=none gives
login_required) and the RP has received a valid logout token for that session."""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import jwt
import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
from navigation import Browser, sign_in_form  # noqa: E402

from rp import Receiver  # noqa: E402

SLUG = "logout"
HOME = "logout-home"
EMAIL = f"lou@{HOME}.example"
PASSWORD = f"Logout-{secrets.token_hex(6)}-pass!"
REDIRECT = "http://127.0.0.1/logout-callback"
PASSED: list[str] = []
FAILED: list[str] = []


def log(message: str) -> None:
    print(f"[logout-conformance {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def check(condition: bool, message: str, detail=None) -> bool:
    (PASSED if condition else FAILED).append(message)
    print(f"{'ok' if condition else 'FAIL'} - {message}" + ("" if condition or detail is None else f": {detail}"),
          flush=True)
    return condition


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, args) -> None:
        self.bin, self.work = args.bin, Path(args.work)
        self.ports = [free_port(), free_port()]
        self.public = f"http://127.0.0.1:{self.ports[0]}"
        self.urls = [f"http://127.0.0.1:{p}" for p in self.ports]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
        self.env.update({
            "GATEHOUSE_DATABASE_URL": args.db_url,
            "GATEHOUSE_REDIS_URL": args.redis_url,
            "GATEHOUSE_REDIS_PREFIX": args.redis_prefix,
            "GATEHOUSE_MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode(),
            "GATEHOUSE_KEYS_DIR": str(self.work / "keys"),
            "GATEHOUSE_DATA_DIR": str(self.work / "data"),
            "GATEHOUSE_LOG": os.environ.get("GATEHOUSE_LOG", "warn"),
            # One issuer for both nodes (what a load balancer's address would be).
            "GATEHOUSE_PUBLIC_URL": self.public,
            # The RP listens on loopback, as the federation suites' partner IdPs do.
            "GATEHOUSE_FEDERATION__ALLOW_PRIVATE_NETWORKS": "true",
            "GATEHOUSE_SERVER__DRAIN_SECONDS": "0",
        })
        self.procs: list[subprocess.Popen] = []

    def cli(self, *args: str, stdin: str | None = None, must: bool = True):
        r = subprocess.run([self.bin, *args], env=self.env, cwd=self.work, input=stdin, capture_output=True,
                           text=True, timeout=60)
        with open(self.work / "cli.log", "a") as f:
            f.write(f"$ gatehouse {' '.join(args)} -> {r.returncode}\n{r.stderr}\n")
        if must and r.returncode != 0:
            raise SystemExit(f"gatehouse {' '.join(args)} failed: {r.stderr[-400:]}")
        return r.returncode, (json.loads(r.stdout) if r.stdout.strip().startswith("{") else {})

    def start(self) -> None:
        for name, port in zip("AB", self.ports):
            env = dict(self.env, GATEHOUSE_LISTEN=f"127.0.0.1:{port}",
                       GATEHOUSE_DATA_DIR=str(self.work / f"node-{name}"))
            out = open(self.work / f"node-{name}.log", "ab")
            proc = subprocess.Popen([self.bin, "serve"], env=env, cwd=self.work, stdout=out, stderr=subprocess.STDOUT)
            self.procs.append(proc)
            with open(self.work / "pids", "a") as f:
                f.write(f"{proc.pid}\n")
        for url in self.urls:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{url} not ready within 60 s")
                time.sleep(0.1)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def walk(browser: Browser, url: str, until: str) -> str:
    """Follows redirects and fills the sign-in and redemption forms (accept, e-mail, password,
    consent) until a redirect to `until`; that redirect's URL."""
    method, data = "GET", None
    for _ in range(16):
        res = browser.request(method, url, data, timeout=10)
        if 300 <= res.status_code < 400:
            target = urljoin(url, res.headers["Location"])
            if target.startswith(until):
                return target
            method, url, data = "GET", target, None
            continue
        form = sign_in_form(res.text, url)
        if res.status_code != 200 or form is None:
            raise SystemExit(f"the journey stopped at {url} ({res.status_code}): {res.text[:300]}")
        fields = dict(form["hidden"])
        step = fields.get("step")
        if step == "identify":
            fields["email"] = EMAIL
        elif step == "password":
            fields["password"] = PASSWORD
        elif step == "consent":
            fields["decision"] = "allow"
        elif step != "accept":
            raise SystemExit(f"unknown step {step!r} at {url}")
        method, url, data = "POST", form["action"], fields
    raise SystemExit("the journey did not finish within 16 requests")


def redeem(browser: Browser, redeem_url: str) -> None:
    """The guest accepts the invitation and proves who they are at their home tenant."""
    walk(browser, redeem_url, REDIRECT)


def sign_in(browser: Browser, issuer: str, client_id: str) -> tuple[str, str]:
    """The guest signs in to the app (home-realm discovery sends them home); (code, verifier)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(12)
    url = f"{issuer}/oauth2/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": state,
        "scope": "openid offline_access", "code_challenge": challenge, "code_challenge_method": "S256"})
    target = walk(browser, url, REDIRECT)
    q = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
    assert q.get("state") == state, target
    return q["code"], verifier


def admin_token(base: str, backend: dict) -> dict:
    """Headers with an app-only admin token from `base` (a tenant URL on one node)."""
    token = requests.post(f"{base}/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=(backend["client_id"], backend["client_secret"]), timeout=10)
    if token.status_code != 200:
        raise SystemExit(f"client_credentials answered {token.status_code}: {token.text[:200]}")
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("--work", "--bin", "--db-url", "--redis-url", "--redis-prefix"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    cluster = Cluster(args)
    cluster.cli("migrate")
    cluster.cli("tenant", "create", "--slug", HOME, "--name", "Logout Home", "--domain", f"{HOME}.example")
    cluster.cli("user", "create", "--tenant", HOME, "--email", EMAIL, "--name", "Lou Logout",
                "--password-stdin", stdin=PASSWORD + "\n")
    cluster.cli("tenant", "create", "--slug", SLUG, "--name", "Logout Ltd", "--domain", f"{SLUG}.example")
    _, web = cluster.cli("app", "create", "--tenant", SLUG, "--name", "Logout RP", "--redirect-uri", REDIRECT,
                         "--grant", "authorization_code", "--grant", "refresh_token")
    _, backend = cluster.cli("app", "create", "--tenant", SLUG, "--name", "Logout admin", "--grant",
                             "client_credentials", "--permission", "User.ReadWrite.All", "--permission", "User.Read.All", "--permission",
                             "User.Invite.All", "--permission", "Application.ReadWrite.All")
    issuer = f"{cluster.public}/{SLUG}"
    rp = Receiver(issuer, web["client_id"], f"{issuer}/oauth2/jwks")
    cluster.start()
    try:
        a = f"{cluster.urls[0]}/{SLUG}"
        b = f"{cluster.urls[1]}/{SLUG}"
        r = requests.patch(f"{a}/v1.0/applications/{web['id']}", headers=admin_token(a, backend), timeout=10,
                           json={"backchannelLogoutUri": rp.url, "backchannelLogoutSessionRequired": True})
        check(r.status_code == 204, "the app's back-channel logout URI is set through Graph PATCH /applications/{id}",
              r.text[:200])
        r = requests.post(f"{a}/v1.0/invitations", headers=admin_token(a, backend), timeout=10, json={
            "invitedUserEmailAddress": EMAIL, "inviteRedirectUrl": REDIRECT, "sendInvitationMessage": False})
        check(r.status_code == 201, "the guest is invited through Graph POST /invitations", r.text[:200])
        invitation = r.json()
        guest_id = invitation["invitedUser"]["id"]
        browser = Browser()
        redeem(browser, invitation["inviteRedeemUrl"])
        r = requests.get(f"{a}/v1.0/users/{guest_id}", headers=admin_token(a, backend), timeout=10)
        check(r.status_code == 200 and r.json().get("userType") == "Guest"
              and r.json().get("externalUserState") == "Accepted",
              "the guest redeemed with their home identity (userType Guest, Accepted)", r.text[:300])
        code, verifier = sign_in(browser, a, web["client_id"])
        tokens = requests.post(f"{a}/oauth2/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
            auth=(web["client_id"], web["client_secret"]), timeout=10).json()
        id_claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
        check("refresh_token" in tokens and "sid" in id_claims,
              "the guest signed in on node A with a refresh token and sid")
        headers = admin_token(b, backend)
        disabled_at = time.monotonic()
        r = requests.patch(f"{b}/v1.0/users/{guest_id}", json={"accountEnabled": False}, timeout=10,
                           headers=headers)
        check(r.status_code == 204, "the guest is disabled through Graph PATCH /users/{id} on node B", r.text[:200])
        r = requests.post(f"{a}/oauth2/token", data={"grant_type": "refresh_token",
                                                     "refresh_token": tokens["refresh_token"]},
                          auth=(web["client_id"], web["client_secret"]), timeout=10)
        check(r.status_code == 400 and r.json().get("error") == "invalid_grant",
              "the refresh token fails on node A at once (invalid_grant)", r.text[:200])
        url = f"{a}/oauth2/authorize?" + urlencode({
            "response_type": "code", "client_id": web["client_id"], "redirect_uri": REDIRECT, "scope": "openid",
            "prompt": "none", "state": "s", "code_challenge": "x" * 43, "code_challenge_method": "S256"})
        res = browser.request("GET", url, None, timeout=10)
        where = res.headers.get("Location", "")
        check(where.startswith(REDIRECT) and "error=login_required" in where,
              "node A's browser session is gone (prompt=none gives login_required)", where)
        deadline = disabled_at + 10
        while not rp.valid and not rp.invalid and time.monotonic() < deadline:
            time.sleep(0.05)
        latency = time.monotonic() - disabled_at
        check(not rp.invalid, "every logout token the RP received was valid", rp.invalid)
        got = rp.valid[0] if rp.valid else {}
        check(bool(got), f"the RP received a valid logout token ({latency:.2f} s after the disable)")
        check(got.get("sid") == id_claims.get("sid") and got.get("sub") == id_claims.get("sub"),
              "the logout token names the session (sid) and the user (sub) of the ID token", got)
    finally:
        cluster.stop()
        rp.stop()
    print(f"logout-conformance: {len(PASSED)} passed, {len(FAILED)} failed", flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
