"""Sign-out reaches every app, at once, on every node: two Gatehouse nodes on one Postgres and
one Redis; a guest-facing web app registers a back-channel logout URI served by rp.py (which
validates each logout token with PyJWT against the JWKS); a user signs in to it through node
A and holds a refresh token; the user is disabled through node B (Graph PATCH /users/{id}
{"accountEnabled": false}, or the CLI when the Graph door has no PATCH); at once, the refresh
token fails on node A (invalid_grant), node A's browser session is gone (prompt=none gives
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
from navigation import Browser  # noqa: E402

from rp import Receiver  # noqa: E402

SLUG = "logout"
EMAIL = f"lou@{SLUG}.example"
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


def sign_in(issuer: str, client_id: str) -> tuple[Browser, str, str]:
    """The member signs in with a password in a browser; (browser, code, verifier)."""
    browser = Browser()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(12)
    url = f"{issuer}/oauth2/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": state,
        "scope": "openid offline_access", "code_challenge": challenge, "code_challenge_method": "S256"})
    method, data = "GET", None
    for _ in range(12):
        res = browser.request(method, url, data, timeout=10)
        if 300 <= res.status_code < 400:
            target = urljoin(url, res.headers["Location"])
            if target.startswith(REDIRECT):
                q = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
                assert q.get("state") == state, target
                return browser, q["code"], verifier
            method, url, data = "GET", target, None
            continue
        form = sign_in_form(res.text, url)
        if res.status_code != 200 or form is None:
            raise SystemExit(f"sign-in stopped at {url} ({res.status_code}): {res.text[:200]}")
        fields = dict(form["hidden"])
        step = fields.get("step")
        if step == "identify":
            fields["email"] = EMAIL
        elif step == "password":
            fields["password"] = PASSWORD
        elif step == "consent":
            fields["decision"] = "allow"
        method, url, data = "POST", form["action"], fields
    raise SystemExit("sign-in did not finish")


def sign_in_form(html: str, base: str) -> dict | None:
    from html.parser import HTMLParser

    class Forms(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.forms, self.form = [], None

        def handle_starttag(self, tag, attrs):
            a = {k: (v or "") for k, v in attrs}
            if tag == "form":
                self.form = {"method": a.get("method", "get").lower(), "action": a.get("action", ""), "hidden": {}}
                self.forms.append(self.form)
            elif tag == "input" and self.form is not None and a.get("type") == "hidden" and a.get("name"):
                self.form["hidden"][a["name"]] = a.get("value", "")

        def handle_endtag(self, tag):
            if tag == "form":
                self.form = None

    p = Forms()
    p.feed(html)
    for f in p.forms:
        if f["method"] == "post" and "step" in f["hidden"]:
            f["action"] = urljoin(base, f["action"] or base)
            return f
    return None


def disable_through_b(cluster: Cluster, backend: dict, user_id: str) -> str:
    """Disables the user through node B; which door did it."""
    b = f"{cluster.urls[1]}/{SLUG}"
    token = requests.post(f"{b}/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=(backend["client_id"], backend["client_secret"]), timeout=10)
    if token.status_code == 200:
        r = requests.patch(f"{b}/v1.0/users/{user_id}", json={"accountEnabled": False}, timeout=10,
                           headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        if r.status_code == 204:
            return "Graph PATCH /users/{id} on node B"
        log(f"Graph PATCH answered {r.status_code}; using the CLI")
    else:
        log(f"client_credentials at node B answered {token.status_code}: {token.text[:200]}")
    rc, _ = cluster.cli("user", "disable", "--tenant", SLUG, "--user", EMAIL, must=False)
    if rc != 0:
        raise SystemExit("neither Graph PATCH /users/{id} nor `gatehouse user disable` is available")
    return "gatehouse user disable"


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("--work", "--bin", "--db-url", "--redis-url", "--redis-prefix"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    cluster = Cluster(args)
    cluster.cli("migrate")
    cluster.cli("tenant", "create", "--slug", SLUG, "--name", "Logout Ltd", "--domain", f"{SLUG}.example")
    _, user = cluster.cli("user", "create", "--tenant", SLUG, "--email", EMAIL, "--name", "Lou Logout",
                          "--password-stdin", stdin=PASSWORD + "\n")
    _, web = cluster.cli("app", "create", "--tenant", SLUG, "--name", "Logout RP", "--redirect-uri", REDIRECT,
                         "--grant", "authorization_code", "--grant", "refresh_token")
    _, backend = cluster.cli("app", "create", "--tenant", SLUG, "--name", "Logout admin", "--grant",
                             "client_credentials", "--permission", "User.ReadWrite.All")
    issuer = f"{cluster.public}/{SLUG}"
    rp = Receiver(issuer, web["client_id"], f"{issuer}/oauth2/jwks")
    # The app's back-channel logout URI (Graph: PATCH /applications/{id} {"backchannelLogoutUri"}),
    # written before the nodes start so that both read it.
    profile = json.dumps({"logout": {"backchannel_uri": rp.url, "backchannel_session_required": True}})
    subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", args.db_url, "-c",
                    f"UPDATE apps SET profile = '{profile}' WHERE client_id = '{web['client_id']}'"],
                   check=True, capture_output=True, timeout=30)
    cluster.start()
    try:
        a = f"{cluster.urls[0]}/{SLUG}"
        browser, code, verifier = sign_in(a, web["client_id"])
        tokens = requests.post(f"{a}/oauth2/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
            auth=(web["client_id"], web["client_secret"]), timeout=10).json()
        id_claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
        check("refresh_token" in tokens and "sid" in id_claims, "signed in on node A with a refresh token and sid")
        door = disable_through_b(cluster, backend, user["id"])
        disabled_at = time.monotonic()
        log(f"disabled through {door}")
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
