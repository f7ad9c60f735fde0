"""The fault drills of Gatehouse (run by conformance/faults/run.sh; see README.md beside this
file). A two-node cluster on Postgres (through a TCP proxy the drills can cut) and a private
redis-server, behind HAProxy; extra single nodes for the SQLite, slow-client and small-pool
drills. Each drill prints its checks (`ok` / `FAIL`) and its figures (`--`), and the run ends
with one line per drill and `faults-conformance: N passed, M failed` (N, M: drills).

Usage: drills.py --work DIR --bin GATEHOUSE --pg-url postgres://postgres@127.0.0.1:5432/postgres
                 [--only NAME[,NAME...]] [--fuzz-seconds N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import jwt
import requests

from harness import (HTTP_TIMEOUT, LAST_SCRAPE, DrillFailure, Harness, Load, Node, SignIn, Tally, log, metric_sum,
                     percentile, scrape, token_request, wait_until)


# ----------------------------------------------------------------------------- helpers
def is_oauth_error(r: requests.Response, code: str | None = None) -> bool:
    try:
        body = r.json()
    except ValueError:
        return False
    return "error" in body and isinstance(body["error"], str) and (code is None or body["error"] == code)


def is_graph_error(r: requests.Response, code: str | None = None) -> bool:
    try:
        body = r.json()
    except ValueError:
        return False
    err = body.get("error") if isinstance(body, dict) else None
    return isinstance(err, dict) and "code" in err and (code is None or err["code"] == code)


def is_html(r: requests.Response) -> bool:
    return r.headers.get("Content-Type", "").startswith("text/html")


def redeem(h: Harness, issuer: str, s: SignIn, client: dict | None = None) -> requests.Response:
    return token_request(issuer, client or h.web, {"grant_type": "authorization_code", "code": s.code,
                                                   "redirect_uri": h.redirect_uri, "code_verifier": s.verifier})


class JwksVerifier:
    """A resource server's verifier: caches the JWKS for the Cache-Control max-age it was
    served with, fetched from a random node, and refetches only when the cache is stale. A
    token whose kid is not in a fresh cache counts as a verification failure."""

    def __init__(self, jwks_urls: list[str], issuer: str) -> None:
        self.urls = jwks_urls
        self.issuer = issuer
        self.keys: dict[str, jwt.PyJWK] = {}
        self.expires = 0.0
        self.fetches = 0
        self.max_ages: list[int] = []
        self.lock = threading.Lock()
        self.failures: list[str] = []
        self.verified = 0
        self.kids: dict[str, int] = {}

    def _refresh(self) -> None:
        r = requests.get(random.choice(self.urls), timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        m = re.search(r"max-age=(\d+)", r.headers.get("Cache-Control", ""))
        max_age = int(m.group(1)) if m else 0
        self.max_ages.append(max_age)
        self.keys = {k["kid"]: jwt.PyJWK(k) for k in r.json()["keys"]}
        self.expires = time.monotonic() + max_age
        self.fetches += 1

    def verify(self, token: str) -> None:
        with self.lock:
            try:
                if time.monotonic() >= self.expires:
                    self._refresh()
                header = jwt.get_unverified_header(token)
                kid = header.get("kid")
                key = self.keys.get(kid)
                if key is None:
                    self.failures.append(f"kid {kid} not in the cached JWKS (cache has {sorted(self.keys)})")
                    return
                jwt.decode(token, key.key, algorithms=[header["alg"]], issuer=self.issuer,
                           options={"verify_aud": False})
                self.verified += 1
                self.kids[kid] = self.kids.get(kid, 0) + 1
            except Exception as e:  # noqa: BLE001 - any failure to verify counts
                self.failures.append(f"{type(e).__name__}: {e}")


def jwks_path(h: Harness) -> str:
    return h.jwks_path


def verify_id_token(h: Harness, token: str) -> bool:
    v = JwksVerifier([n.url + jwks_path(h) for n in (h.a, h.b) if n.pid], h.issuer)
    v.verify(token)
    return not v.failures


def rss_line(t: Tally, *nodes: Node) -> None:
    t.figure("RSS: " + ", ".join(f"node {n.name} {n.rss()}" for n in nodes))


def client_credentials(h: Harness, issuer: str):
    return lambda s, i: token_request(issuer, h.backend, {"grant_type": "client_credentials"}, session=s)


def graph_users(base_issuer: str, token: str):
    return lambda s, i: s.get(f"{base_issuer}/v1.0/users", headers={"Authorization": f"Bearer {token}"},
                              timeout=HTTP_TIMEOUT)


def clean_failures(result, allowed: set[int]) -> list:
    """The answers of a load that were neither 2xx nor in `allowed`."""
    return [(k, v) for k, v in result.statuses.items() if not (200 <= k < 300) and k not in allowed]


# ----------------------------------------------------------------------------- 1. kill -9
def drill_kill_node(h: Harness, t: Tally) -> None:
    """Sign-ins started on node A (pinned by the load balancer's cookie) are at the password
    page when node A is killed with SIGKILL; they finish through the load balancer on node B
    (the transactions are in Redis), their codes are redeemed and the ID tokens verify. A
    client_credentials load runs through the load balancer meanwhile. Node A restarts."""
    a, b = h.a, h.b
    before = a.metrics()
    people = [SignIn(h, pin="a") for _ in range(8)]
    for p in people:
        p.run_until("password")
    after = a.metrics()
    grew = metric_sum(after, "gatehouse_http_requests_total") - metric_sum(before, "gatehouse_http_requests_total")
    t.check(grew >= 3 * len(people), f"the {len(people)} sign-ins were served by node A up to the password page "
            f"(node A's gatehouse_http_requests_total grew by {grew:.0f})")
    load = Load(client_credentials(h, h.issuer), workers=4).start()
    time.sleep(2)
    a.kill9()
    killed_at = time.monotonic() - load.t0
    log("node a killed (SIGKILL)")
    finished, failures = 0, []
    for p in people:
        try:
            p.run_until("done")
            r = redeem(h, h.issuer, p)
            if r.status_code == 200 and verify_id_token(h, r.json()["id_token"]):
                finished += 1
            else:
                failures.append((r.status_code, r.text[:200]))
        except DrillFailure as e:
            failures.append(str(e)[:300])
    t.check(finished == len(people), f"{finished}/{len(people)} sign-ins started on node A finished on node B "
            "(code redeemed, ID token verified against the JWKS)", failures or None)
    time.sleep(1)
    took = a.start()
    t.figure(f"node A restarted and ready (/readyz 200) in {took:.2f}s")
    t.check(took < 10, "node A is ready again within 10 s")
    wait_until(lambda: requests.get(f"{h.lb.url}/healthz", timeout=2).ok, 5)
    time.sleep(2)  # HAProxy's rise: 2 checks 500 ms apart
    res = load.stop()
    t.figure(f"client_credentials through HAProxy across the kill: {res.summary()}")
    bad = clean_failures(res, {502})
    t.check(not bad, "no 500 (or other 5xx) at the client: only HAProxy's 502 for a request node A dropped", bad)
    # By design, a request in flight on node A when it is killed is lost (HAProxy answers 502 or
    # closes the client's connection); nothing else may be.
    lost = [(round(tt, 3), s) for tt, s in res.timeline if s != 200]
    late = [(tt, s) for tt, s in lost if not (killed_at - 0.5 <= tt <= killed_at + 1.0)]
    t.check(len(lost) <= load.workers and not late,
            f"only requests in flight on node A at the kill were lost ({len(lost)} ≤ {load.workers} workers, "
            f"all within 1 s of the kill)", lost)
    rss_line(t, a, b)


# ----------------------------------------------------------------------------- 2. Redis
def drill_redis(h: Harness, t: Tally) -> None:
    """The private redis-server is shut down (no save) and started again, then black-holed
    with SIGSTOP and resumed with SIGCONT. While it is gone: /readyz 503 naming the ephemeral
    store, sign-ins and code redemption answer 503 in their door's format (HTML page, OAuth
    JSON with Retry-After), DB-backed endpoints keep serving; afterwards both nodes recover
    without a restart and a session from before the outage is still signed in."""
    a, b = h.a, h.b
    s0 = SignIn(h)
    s0.run_until("done")
    t.check(redeem(h, h.issuer, s0).status_code == 200, "a person signed in before the outage")
    m0 = {n.name: n.metrics() for n in (a, b)}

    def outage_checks(label: str, bound: float) -> None:
        got, took = wait_until(lambda: all(n.readyz()[0] == 503 for n in (a, b)), bound + 5, 0.2)
        t.check(got, f"[{label}] both nodes' /readyz answer 503 (after {took:.1f}s)")
        st, body = a.readyz()
        t.check(st == 503 and body.get("ephemeral") == "down", f"[{label}] /readyz names the ephemeral store",
                body)
        started = time.monotonic()
        r = requests.get(SignIn(h).authorize_url, timeout=HTTP_TIMEOUT, allow_redirects=False,
                         headers={"Accept": "text/html"})
        took = time.monotonic() - started
        t.figure(f"[{label}] authorize answered {r.status_code} in {took:.2f}s")
        t.check(r.status_code == 503 and is_html(r), f"[{label}] a new sign-in gets the 503 page (HTML)",
                (r.status_code, r.text[:200]))
        t.check(took <= bound, f"[{label}] ... within {bound:.0f} s")
        started = time.monotonic()
        r = token_request(f"{b.url}/{h.slug}", h.web, {"grant_type": "authorization_code",
                                                        "code": secrets.token_urlsafe(32),
                                                        "redirect_uri": h.redirect_uri,
                                                        "code_verifier": secrets.token_urlsafe(48)})
        took = time.monotonic() - started
        t.check(r.status_code == 503 and is_oauth_error(r, "temporarily_unavailable") and "Retry-After" in r.headers,
                f"[{label}] code redemption fails closed: 503 temporarily_unavailable with Retry-After "
                f"({took:.2f}s)", (r.status_code, r.text[:200]))
        for path in ("/.well-known/openid-configuration",):
            r = requests.get(f"{a.url}/{h.slug}{path}", timeout=HTTP_TIMEOUT)
            t.check(r.status_code == 200, f"[{label}] discovery still answers 200 (database-backed)")
        r = requests.get(a.url + jwks_path(h), timeout=HTTP_TIMEOUT)
        t.check(r.status_code == 200, f"[{label}] the JWKS still answers 200")
        m = a.metrics()
        t.check(metric_sum(m, "gatehouse_ephemeral_up") == 0, f"[{label}] metrics: gatehouse_ephemeral_up 0")
        t.check(LAST_SCRAPE["seconds"] < 5, f"[{label}] /metrics answered in {LAST_SCRAPE['seconds']:.2f}s")
        t.figure(f"[{label}] metrics: gatehouse_ready {metric_sum(m, 'gatehouse_ready'):.0f} (it follows draining "
                 "only, not the dependencies /readyz checks)")

    def recovery(label: str) -> None:
        got, took = wait_until(lambda: all(n.readyz()[0] == 200 for n in (a, b)), 30, 0.1)
        t.figure(f"[{label}] recovery: both nodes ready {took:.2f}s after Redis returned")
        t.check(got and took <= 10, f"[{label}] both nodes recover without a restart within 10 s")
        h.wait_lb()
        p = SignIn(h)
        p.run_until("done")
        t.check(redeem(h, h.issuer, p).status_code == 200, f"[{label}] a new sign-in completes after recovery")

    h.redis.shutdown()
    log("redis shut down")
    try:
        outage_checks("restart", 5)
    finally:
        h.redis.start()
    recovery("restart")
    again = SignIn(h)
    again.browser = s0.browser
    again.run_until("done")
    t.check("password" not in again.seen and "identify" not in again.seen,
            "the session from before the restart is still signed in (sessions are in the database): "
            f"no sign-in page shown ({again.seen})")

    h.redis.stop_signal(signal.SIGSTOP)
    log("redis stopped (SIGSTOP: a black hole)")
    try:
        outage_checks("black-hole", 10)
    finally:
        h.redis.stop_signal(signal.SIGCONT)
    log("redis resumed (SIGCONT)")
    recovery("black-hole")
    m1 = {n.name: n.metrics() for n in (a, b)}
    moved = sum(metric_sum(m1[n], "gatehouse_http_requests_total", status="503")
                - metric_sum(m0[n], "gatehouse_http_requests_total", status="503") for n in m1)
    t.check(moved > 0, f"metrics: gatehouse_http_requests_total{{status=\"503\"}} grew by {moved:.0f}")
    rss_line(t, a, b)


# ----------------------------------------------------------------------------- 3. Postgres
def drill_postgres(h: Harness, t: Tally) -> None:
    """The TCP proxy between the nodes and Postgres is cut (every connection closed, new
    ones refused), restored, then black-holed (connections accepted, nothing forwarded) and
    restored. A load of admin-API reads runs against both nodes throughout: every answer is 200
    or the Graph 503; /readyz says 503 naming the database; both nodes recover by themselves."""
    a, b = h.a, h.b
    token = h.backend_token()
    issuers = [f"{a.url}/{h.slug}", f"{b.url}/{h.slug}"]
    reads = lambda s, i: graph_users(issuers[i % 2], token)(s, i)  # noqa: E731
    m0 = a.metrics()
    for label, fault, bound in (("cut", h.pg_proxy.cut, 10), ("black-hole", h.pg_proxy.blackhole, 15)):
        load = Load(reads, workers=3, pause=0.05).start()
        time.sleep(1.5)
        fault()
        log(f"postgres proxy: {label}")
        t0 = time.monotonic()
        try:
            got, took = wait_until(lambda: all(n.readyz(timeout=bound)[0] == 503 for n in (a, b)), bound + 10, 0.2)
            t.figure(f"[{label}] both nodes' /readyz 503 after {took:.2f}s")
            t.check(got, f"[{label}] /readyz answers 503 on both nodes")
            started = time.monotonic()
            st, body = a.readyz(timeout=bound + 5)
            t.check(st == 503 and body.get("database") == "down"
                    and any("database" in p for p in body.get("problems", [])),
                    f"[{label}] /readyz names the database ({time.monotonic() - started:.2f}s)", body)
            started = time.monotonic()
            r = requests.get(f"{issuers[0]}/v1.0/users", headers={"Authorization": f"Bearer {token}"},
                             timeout=bound + 5)
            took = time.monotonic() - started
            t.check(r.status_code == 503 and is_graph_error(r, "serviceNotAvailable"),
                    f"[{label}] admin API answers the Graph 503 (serviceNotAvailable) in {took:.2f}s",
                    (r.status_code, r.text[:200]))
            t.check(took <= bound, f"[{label}] ... within {bound} s")
            started = time.monotonic()
            r = token_request(issuers[1], h.web, {"grant_type": "refresh_token", "refresh_token": "x" * 43},
                              timeout=bound + 5)
            t.check(r.status_code == 503 and is_oauth_error(r, "temporarily_unavailable"),
                    f"[{label}] the token endpoint answers the OAuth 503 (temporarily_unavailable) in "
                    f"{time.monotonic() - started:.2f}s", (r.status_code, r.text[:200]))
            m = a.metrics()
            took = LAST_SCRAPE["seconds"]
            t.check(metric_sum(m, "gatehouse_db_up") == 0, f"[{label}] metrics: gatehouse_db_up 0")
            t.check(took < 5, f"[{label}] /metrics answered in {took:.2f}s, well inside Prometheus's default "
                    "10 s scrape timeout")
            time.sleep(max(0.0, 4 - (time.monotonic() - t0)))
        finally:
            h.pg_proxy.restore()
        log("postgres proxy restored")
        got, took = wait_until(lambda: all(n.readyz()[0] == 200 for n in (a, b)), 30, 0.1)
        t.figure(f"[{label}] recovery: both nodes ready {took:.2f}s after Postgres returned")
        t.check(got and took <= 15, f"[{label}] both nodes recover without a restart within 15 s")
        r = requests.get(f"{issuers[1]}/v1.0/users", headers={"Authorization": f"Bearer {token}"},
                         timeout=HTTP_TIMEOUT)
        t.check(r.status_code == 200, f"[{label}] the admin API answers 200 again")
        h.wait_lb()
        time.sleep(1)
        res = load.stop()
        t.figure(f"[{label}] admin-API reads on both nodes: {res.summary()}")
        bad = clean_failures(res, {503})
        t.check(not bad and not res.errors, f"[{label}] every read answered 200 or the 503, no 500, no reset",
                (bad, res.errors[:3], res.bodies[:3]))
        not_graph = [body for st, body in res.bodies if st == 503 and '"serviceNotAvailable"' not in body]
        t.check(not not_graph, f"[{label}] every 503 is in the Graph format", not_graph[:2])
        t.check(max(res.latencies or [0]) <= bound + 1, f"[{label}] no read hung beyond {bound + 1} s "
                f"(max {max(res.latencies or [0]):.2f}s)")
        # A sign-in after recovery (a write: session, grant, refresh token).
        p = SignIn(h)
        p.run_until("done")
        t.check(redeem(h, h.issuer, p).status_code == 200, f"[{label}] a sign-in writes again after recovery")
    m1 = a.metrics()
    t.check(metric_sum(m1, "gatehouse_http_requests_total", status="503")
            > metric_sum(m0, "gatehouse_http_requests_total", status="503"),
            "metrics: node A counted its 503s")
    rss_line(t, a, b)


# ----------------------------------------------------------------------------- 4. key rotation
def drill_key_rotation(h: Harness, t: Tally) -> None:
    """`gatehouse keys rotate` every 1.5 s for 24 s (JWKS max-age 5 s, refresh interval 1 s)
    while client_credentials tokens are fetched from both nodes and a caching verifier checks
    each against a JWKS from a random node, honouring Cache-Control max-age."""
    a, b = h.a, h.b
    path = jwks_path(h)
    verifier = JwksVerifier([a.url + path, b.url + path], h.issuer)
    issuers = [f"{a.url}/{h.slug}", f"{b.url}/{h.slug}"]

    def fetch(s, i):
        return token_request(issuers[i % 2], h.backend, {"grant_type": "client_credentials"}, session=s)

    def check(res):
        if res.status_code == 200:
            verifier.verify(res.json()["access_token"])

    load = Load(fetch, workers=4, on_response=check).start()
    time.sleep(2)
    # `keys rotate` every 1.5 s for 24 s. A rotation while the previous one's key has not yet
    # started signing is refused (src/keys/mod.rs plan_rotation: "run rotate again after
    # that"), which is a clean answer; anything else is not.
    accepted, refused, other = [], 0, []
    until = time.monotonic() + 24
    while time.monotonic() < until:
        rc, out, err = h.cli_raw("keys", "rotate")
        if rc == 0:
            accepted.append(json.loads(out))
            log(f"keys rotate accepted: {out.strip()[:200]}")
        elif "rotation is already scheduled" in err:
            refused += 1
        else:
            other.append((rc, err[-300:]))
        time.sleep(1.5)
    time.sleep(10)  # past the last planned activation (creation + refresh + 1 s + max age)
    res = load.stop()
    t.figure(f"tokens from both nodes: {res.summary()}")
    t.figure(f"verifier: {verifier.verified} verified, {len(verifier.failures)} failures, {verifier.fetches} JWKS "
             f"fetches, max-ages served {sorted(set(verifier.max_ages))}, tokens per kid {verifier.kids}")
    t.check(res.ok() == res.total and res.total > 0, "every token request answered 200")
    t.check(not verifier.failures, "zero verification failures at the caching verifier", verifier.failures[:5])
    t.figure(f"keys rotate every 1.5 s for 24 s: {len(accepted)} accepted, {refused} refused as already "
             "scheduled (the documented answer while a key waits to sign)")
    t.check(not other, "every rotate was accepted or refused as already scheduled", other)
    t.check(len(accepted) >= 3, f"at least 3 rotations went through ({len(accepted)})")
    t.check(len(verifier.kids) >= 3, f"the rotations took effect: tokens were signed by {len(verifier.kids)} keys")
    m = a.metrics()
    ages = [dict(lbls) for (n, lbls), _ in m.items() if n == "gatehouse_signing_key_age_seconds"]
    t.check(ages, f"metrics: gatehouse_signing_key_age_seconds lists {len(ages)} keys")
    rss_line(t, a, b)


# ----------------------------------------------------------------------------- 5. races
def race(calls) -> list[requests.Response]:
    barrier = threading.Barrier(len(calls))
    out: list = [None] * len(calls)

    def run(i):
        barrier.wait(5)
        try:
            out[i] = calls[i]()
        except requests.RequestException as e:
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(HTTP_TIMEOUT + 5)
    return out


def drill_races(h: Harness, t: Tally) -> None:
    """One authorization code redeemed at the same instant on node A and node B, and one
    refresh token rotated at the same instant on both, five rounds each. src/oidc/token.rs:
    of concurrent redemptions exactly one wins; the loser's replay (same client, right
    verifier) revokes the grant (SECURITY.md B.22), so the winner's refresh token dies too. Of
    concurrent refreshes exactly one succeeds and the reuse revokes the family (strict, no
    grace window), so the winner's new refresh token is refused as well."""
    a, b = h.a, h.b
    ia, ib = f"{a.url}/{h.slug}", f"{b.url}/{h.slug}"
    code_ok = refresh_ok = 0
    rounds = 5
    for n in range(rounds):
        p = SignIn(h)
        p.run_until("done")
        form = {"grant_type": "authorization_code", "code": p.code, "redirect_uri": h.redirect_uri,
                "code_verifier": p.verifier}
        got = race([lambda: token_request(ia, h.web, form), lambda: token_request(ib, h.web, form)])
        statuses = sorted(r.status_code if isinstance(r, requests.Response) else repr(r) for r in got)
        winners = [r for r in got if isinstance(r, requests.Response) and r.status_code == 200]
        losers = [r for r in got if isinstance(r, requests.Response) and r.status_code == 400
                  and is_oauth_error(r, "invalid_grant")]
        good = len(winners) == 1 and len(losers) == 1
        if good:
            rt = winners[0].json().get("refresh_token")
            after = token_request(h.issuer, h.web, {"grant_type": "refresh_token", "refresh_token": rt})
            good = after.status_code == 400 and is_oauth_error(after, "invalid_grant")
            if not good:
                print(f"    code round {n}: winner's refresh after the replay answered {after.status_code}")
        else:
            print(f"    code round {n}: {statuses} {[r.text[:120] for r in got if isinstance(r, requests.Response)]}")
        code_ok += good
    t.check(code_ok == rounds, f"code race: {code_ok}/{rounds} rounds had exactly one 200 and one invalid_grant, "
            "and the replay revoked the winner's grant (its refresh token refused)")
    for n in range(rounds):
        p = SignIn(h)
        p.run_until("done")
        first = redeem(h, h.issuer, p)
        rt = first.json().get("refresh_token")
        if not rt:
            t.check(False, "the code flow returns a refresh token (offline_access)", first.text[:200])
            return
        form = {"grant_type": "refresh_token", "refresh_token": rt}
        got = race([lambda: token_request(ia, h.web, form), lambda: token_request(ib, h.web, form)])
        winners = [r for r in got if isinstance(r, requests.Response) and r.status_code == 200]
        losers = [r for r in got if isinstance(r, requests.Response) and r.status_code == 400
                  and is_oauth_error(r, "invalid_grant")]
        good = len(winners) == 1 and len(losers) == 1
        if good:
            successor = winners[0].json()["refresh_token"]
            after = token_request(h.issuer, h.web, {"grant_type": "refresh_token", "refresh_token": successor})
            good = after.status_code == 400 and is_oauth_error(after, "invalid_grant")
            if not good:
                print(f"    refresh round {n}: the winner's successor answered {after.status_code} (family not revoked)")
        else:
            print(f"    refresh round {n}: {[getattr(r, 'status_code', r) for r in got]}")
        refresh_ok += good
    t.check(refresh_ok == rounds, f"refresh race: {refresh_ok}/{rounds} rounds had exactly one 200 and one "
            "invalid_grant, and the family was revoked (the successor refused)")
    rss_line(t, a, b)


# ----------------------------------------------------------------------------- 6. drain
def drill_drain(h: Harness, t: Tally) -> None:
    """SIGTERM node B (drain 5 s) under a steady load through HAProxy (health check /readyz
    every 500 ms, down after 2): zero failed requests at the client, /readyz 503 before the
    listener closed, exit status 0; then node B is started again."""
    a, b = h.a, h.b
    load = Load(client_credentials(h, h.issuer), workers=6).start()
    time.sleep(3)
    polls: list = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            at = time.monotonic()
            try:
                s = requests.get(f"{b.url}/readyz", timeout=2).status_code
            except requests.RequestException as e:
                s = type(e).__name__
            polls.append((at, s))
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    time.sleep(0.3)
    t_term = time.monotonic()
    b.term()
    log("node b: SIGTERM")
    code = b.wait_exit(40)
    t_exit = time.monotonic()
    stop.set()
    poller.join(5)
    t.check(code == 0, f"node B exited with status 0 after {t_exit - t_term:.2f}s (got {code})")
    after = [(at - t_term, s) for at, s in polls if at >= t_term]
    first_503 = next((at for at, s in after if s == 503), None)
    # The listener closed at the first refused poll, or at the latest when the process exited.
    closed = next((at for at, s in after if not isinstance(s, int)), t_exit - t_term)
    answered_after = [at for at, s in after if isinstance(s, int) and first_503 is not None and at >= first_503]
    last_answer = max(answered_after, default=None)
    t.figure(f"node B /readyz: first 503 at +{first_503 if first_503 is None else round(first_503, 2)}s, last "
             f"answer at +{last_answer if last_answer is None else round(last_answer, 2)}s, listener closed by "
             f"+{closed:.2f}s")
    t.check(first_503 is not None and first_503 < 0.5, "/readyz answered 503 at once after SIGTERM")
    t.check(first_503 is not None and first_503 < closed and all(
        s == 503 for at, s in after if isinstance(s, int) and at >= first_503),
        "/readyz answered 503 (and only 503) until the listener closed")
    t.check(last_answer is not None and last_answer >= 4.5, "the listener kept answering through the drain (5 s)")
    took = b.start()
    t.figure(f"node B restarted, ready in {took:.2f}s")
    time.sleep(2.5)
    res = load.stop()
    t.figure(f"client_credentials through HAProxy across the drain: {res.summary()}")
    t.check(res.ok() == res.total and not res.errors, "zero failed requests at the client",
            (res.statuses, res.errors[:3], res.bodies[:3]))
    rss_line(t, a, b)


# ----------------------------------------------------------------------------- 7. SQLite disk full
def fill(path: Path, chunk: int) -> int:
    """Writes `chunk`-byte blocks to `path` until the disk is full; returns how many."""
    n = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * chunk)
            n += 1
    except OSError:
        return n
    finally:
        try:
            os.close(fd)
        except OSError:
            pass


def drill_sqlite_disk_full(h: Harness, t: Tally) -> None:
    """A single node on SQLite in a 24 MB tmpfs. The disk is filled: sign-ins (writes) fail
    cleanly (no 500) and /readyz says 503 "read-only" while reads keep serving; the filler is
    removed: /readyz 200 and sign-ins succeed again, without a restart."""
    mnt = h.work / "tmpfs"
    mnt.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], check=True, timeout=10)
    node = None
    try:
        env = h.base_env()
        env.update({"GATEHOUSE_DATABASE_URL": f"sqlite://{mnt}/gatehouse.db",
                    "GATEHOUSE_KEYS__JWKS_MAX_AGE": "5", "GATEHOUSE_KEYS__REFRESH_INTERVAL": "1"})
        node = Node(h, "sqlite", env)
        node.env["GATEHOUSE_DATA_DIR"] = str(mnt / "data")
        node.env["GATEHOUSE_PUBLIC_URL"] = node.url
        cli_env = dict(node.env)
        h.cli("migrate", env=cli_env)
        world = h.provision(cli_env, "disk")
        took = node.start()
        t.figure(f"SQLite node ready in {took:.2f}s on {mnt} (tmpfs 24 MB)")
        issuer = f"{node.url}/disk"
        web = world["web"]

        def sign_in() -> tuple[bool, str]:
            p = SignIn(h, issuer=issuer, web=web)
            try:
                p.run_until("done", max_steps=12)
            except DrillFailure:
                last = p.trail[-1] if p.trail else ""
                return False, f"{p.stage} {last}"
            r = redeem(h, issuer, p, web)
            return r.status_code == 200, f"token {r.status_code} {r.text[:160]}"

        ok, why = sign_in()
        t.check(ok, "a sign-in succeeds before the disk is full", why)
        filler = mnt / "filler"
        written = fill(filler, 1 << 20) + fill(mnt / "filler2", 4096) / 256
        t.figure(f"filled the tmpfs with {written:.1f} MB")
        outcomes = []
        for _ in range(3):
            p = SignIn(h, issuer=issuer, web=web)
            statuses = []
            try:
                for _ in range(12):
                    r = p.advance()
                    statuses.append(r.status_code)
                    if p.stage == "done" or r.status_code >= 400:
                        break
            except (DrillFailure, requests.RequestException) as e:
                statuses.append(type(e).__name__)
            if p.stage == "done":
                r = redeem(h, issuer, p, web)
                statuses.append(("token", r.status_code, r.text[:100]))
            outcomes.append(statuses)
        t.figure(f"sign-ins on the full disk: {outcomes}")
        five = [s for o in outcomes for s in o if isinstance(s, int) and s >= 500 and s != 503]
        t.check(not five, "no sign-in step answered a 5xx other than 503", outcomes)
        failed = [o for o in outcomes if any((isinstance(s, int) and s == 503)
                                             or (isinstance(s, tuple) and s[1] == 503) for s in o)]
        t.check(failed, "writes fail cleanly on the full disk (503)", outcomes)
        got, took = wait_until(lambda: node.readyz()[1].get("database") == "read-only", 10, 0.2)
        st, body = node.readyz()
        t.check(st == 503 and body.get("database") == "read-only", f"/readyz 503 \"read-only\" ({took:.2f}s)", body)
        r = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT)
        t.check(r.status_code == 200, "reads keep serving (discovery 200)")
        filler.unlink()
        (mnt / "filler2").unlink()
        freed = time.monotonic()
        got, took = wait_until(lambda: node.readyz()[0] == 200, 15, 0.1)
        t.figure(f"recovery: /readyz 200 {took:.2f}s after the space was freed")
        t.check(got, "/readyz 200 again without a restart")
        ok, why = sign_in()
        t.check(ok, f"a sign-in succeeds again ({time.monotonic() - freed:.2f}s after freeing)", why)
        t.check(node.pid is not None, "the node never exited")
        rss_line(t, node)
    finally:
        if node:
            node.stop()
        subprocess.run(["umount", "-l", str(mnt)], timeout=10)


# ----------------------------------------------------------------------------- 8. slow clients
def connect_from(source: str, port: int) -> socket.socket:
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(HTTP_TIMEOUT)
    s.connect(("127.0.0.1", port))
    return s


def closed_after(s: socket.socket, timeout: float) -> float | None:
    """Seconds until the peer closes `s` (reading and discarding what it sends), None if not."""
    start = time.monotonic()
    s.settimeout(0.2)
    while time.monotonic() - start < timeout:
        try:
            data = s.recv(65536)
            if not data:
                return time.monotonic() - start
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - start
    return None


def answered(s: socket.socket) -> str:
    """Sends GET /healthz on `s` and says what came back: the status line, or closed."""
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(5)
        data = s.recv(4096)
        return data.split(b"\r\n", 1)[0].decode() if data else "closed"
    except OSError as e:
        return f"closed ({type(e).__name__})"


def drill_slow_clients(h: Harness, t: Tally) -> None:
    """A node with a 2 s header timeout, 40 connections at most and 8 per address. Slow-header
    connections (a header byte every 300 ms, never finished), silent connections and a slow
    body (one byte a second) come from their own loopback addresses, while a normal client on
    127.0.0.1 keeps being served; then the per-address and total caps are filled."""
    env = h.cluster_env()
    env.update({"GATEHOUSE_SERVER__HEADER_TIMEOUT": "2", "GATEHOUSE_SERVER__MAX_CONNECTIONS": "40",
                "GATEHOUSE_SERVER__MAX_CONNECTIONS_PER_ADDRESS": "8"})
    node = Node(h, "slow", env)
    node.start()
    try:
        port = node.url.rsplit(":", 1)[1]
        port = int(port)
        normal = Load(lambda s, i: s.get(f"{node.url}/{h.slug}/.well-known/openid-configuration",
                                         timeout=HTTP_TIMEOUT), workers=2, pause=0.05).start()
        # Slow headers: a header line trickles in and never ends.
        slow_results: list = []

        def slow_header(i: int) -> None:
            s = connect_from("127.0.0.2", port)
            start = time.monotonic()
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            try:
                while time.monotonic() - start < 15:
                    s.sendall(b"a")
                    time.sleep(0.3)
                slow_results.append(None)
            except OSError:
                slow_results.append(time.monotonic() - start)
            finally:
                s.close()

        idle_results: list = []

        def idle(i: int) -> None:
            s = connect_from("127.0.0.3", port)
            idle_results.append(closed_after(s, 15))
            s.close()

        body_result: list = []

        def slow_body() -> None:
            s = connect_from("127.0.0.4", port)
            start = time.monotonic()
            s.sendall(f"POST /{h.slug}/oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n".encode())
            status = "no answer"
            try:
                s.settimeout(1)
                while time.monotonic() - start < 45:
                    s.sendall(b"a")
                    try:
                        data = s.recv(4096)
                        status = data.split(b"\r\n", 1)[0].decode() if data else "closed"
                        break
                    except socket.timeout:
                        continue
            except OSError as e:
                status = f"closed ({type(e).__name__})"
            body_result.append((time.monotonic() - start, status))
            s.close()

        threads = [threading.Thread(target=slow_header, args=(i,)) for i in range(5)]
        threads += [threading.Thread(target=idle, args=(i,)) for i in range(5)]
        body_thread = threading.Thread(target=slow_body)
        for th in threads + [body_thread]:
            th.start()
        for th in threads:
            th.join(25)
        t.figure(f"slow-header connections closed after {[None if x is None else round(x, 2) for x in slow_results]} s")
        t.check(len(slow_results) == 5 and all(x is not None and x <= 4 for x in slow_results),
                "every slow-header connection was closed within header timeout (2 s) + 2 s")
        t.figure(f"silent connections closed after {[None if x is None else round(x, 2) for x in idle_results]} s")
        t.check(len(idle_results) == 5 and all(x is not None and x <= 4 for x in idle_results),
                "every silent connection was closed within header timeout + 2 s")
        # A kept-alive connection that sends nothing after its first request.
        s = connect_from("127.0.0.6", port)
        first = answered(s)
        kept = closed_after(s, 15)
        s.close()
        t.figure(f"a kept-alive connection idle after its first request ({first}): closed after "
                 f"{None if kept is None else round(kept, 2)} s")
        t.check(first.startswith("HTTP/1.1 200") and kept is not None and kept <= 4,
                "an idle kept-alive connection was closed within header timeout + 2 s")
        # Per-address cap: 12 connections from one address, 8 served, 4 closed at once.
        socks = [connect_from("127.0.0.5", port) for _ in range(12)]
        time.sleep(0.3)
        answers = [answered(s) for s in socks]
        for s in socks:
            s.close()
        served = sum(a.startswith("HTTP/1.1 200") for a in answers)
        t.figure(f"12 connections from 127.0.0.5: {served} served, {len(answers) - served} closed ({answers})")
        t.check(served == 8, "the per-address cap (8) holds: exactly 8 served, the rest closed")
        # Total cap: 40 connections from five addresses (8 each), then one more is closed;
        # once some end, a new one is served.
        time.sleep(2.5)  # the earlier connections are gone
        held = [connect_from(f"127.0.1.{k}", port) for k in range(1, 6) for _ in range(8)]
        time.sleep(0.3)
        extra = connect_from("127.0.2.1", port)
        over = answered(extra)
        extra.close()
        t.figure(f"the 41st connection (40 held open): {over}")
        t.check(not over.startswith("HTTP/1.1 200"), "the total cap (40) holds: the 41st connection is closed")
        for s in held[:4]:
            s.close()
        time.sleep(0.3)
        extra = connect_from("127.0.2.1", port)
        again = answered(extra)
        extra.close()
        for s in held[4:]:
            s.close()
        t.check(again.startswith("HTTP/1.1 200"), f"after 4 connections ended, a new one is served ({again})")
        body_thread.join(50)
        t.figure(f"slow body (1 byte a second): {body_result}")
        t.check(body_result and body_result[0][0] <= 40 and not body_result[0][1].startswith("HTTP/1.1 5"),
                "the slow body was cut within the 30 s request limit (+10 s), without a 5xx")
        time.sleep(2.5)
        res = normal.stop()
        t.figure(f"a normal client on 127.0.0.1 meanwhile: {res.summary()}")
        t.check(res.ok() == res.total and res.total > 0, "the normal client was served throughout",
                (res.statuses, res.errors[:3]))
        t.check(max(res.latencies or [0]) < 2, "... and never waited 2 s")
        rss_line(t, node)
    finally:
        node.stop()


# ----------------------------------------------------------------------------- 9. small pool
def drill_small_pool(h: Harness, t: Tally) -> None:
    """A node with a pool of 2 database connections gets 50 concurrent admin-API reads (each a
    database query after the token check), then 50 concurrent client_credentials requests:
    each answers 200 or a clean 503, none takes over 15 s."""
    env = h.cluster_env()
    env["GATEHOUSE_DATABASE_MAX_CONNECTIONS"] = "2"
    node = Node(h, "pool2", env)
    node.start()
    try:
        issuer = f"{node.url}/{h.slug}"
        token = h.backend_token(issuer)
        calls = (
            ("admin-API reads", lambda: requests.get(f"{issuer}/v1.0/users",
                                                     headers={"Authorization": f"Bearer {token}"}, timeout=30)),
            ("client_credentials", lambda: token_request(issuer, h.backend, {"grant_type": "client_credentials"},
                                                         timeout=30)),
        )
        for label, call in calls:
            times: list = []
            lock = threading.Lock()

            def one(call=call):
                start = time.monotonic()
                try:
                    r = call()
                    outcome = r.status_code
                    if r.status_code == 503 and not (is_graph_error(r) or is_oauth_error(r)):
                        outcome = "503 in no door's format"
                except requests.RequestException as e:
                    outcome = type(e).__name__
                with lock:
                    times.append((time.monotonic() - start, outcome))

            race([one for _ in range(50)])
            statuses: dict = {}
            for _, s in times:
                statuses[s] = statuses.get(s, 0) + 1
            lat = [x for x, _ in times]
            t.figure(f"50 concurrent {label} on a pool of 2: {statuses}, p50 {percentile(lat, 50) * 1000:.0f} ms, "
                     f"p99 {percentile(lat, 99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms")
            t.check(len(times) == 50 and all(s in (200, 503) for _, s in times),
                    f"{label}: all 50 answered 200 or a clean 503", statuses)
            t.check(max(lat) <= 15, f"{label}: none took more than 15 s")
        pool = scrape(node.metrics_url)
        t.figure("metrics: gatehouse_db_pool_connections " + str({dict(lbl).get("state"): v for (n, lbl), v in pool.items()
                                                                 if n == "gatehouse_db_pool_connections"}))
        rss_line(t, node)
    finally:
        node.stop()


# ----------------------------------------------------------------------------- 10. fuzz
def drill_fuzz(h: Harness, t: Tally, seconds: int) -> None:
    """schemathesis against the admin API's OpenAPI document (a tenant of its own, a bearer
    token of an app holding every permission; the tenant path parameter fixed to it), with the
    not_a_server_error check; then hand-made malformed protocol requests: NUL in client_id,
    tenant and ids, huge and duplicated parameters on authorize, token and SAML endpoints."""
    a = h.a
    fuzz = h.provision(h.cli_env(), f"{h.slug}-fz")
    slug = fuzz["slug"]
    issuer = f"{a.url}/{slug}"
    token = h.backend_token(issuer, fuzz["backend"])
    spec = json.loads(subprocess.run([h.bin, "openapi"], env=h.cli_env(), capture_output=True, text=True,
                                     timeout=30, check=True).stdout)
    paths = {}
    for p, ops in spec["paths"].items():
        fixed = p.replace("{tenant}", slug)
        for op in ops.values():
            if isinstance(op, dict) and "parameters" in op:
                op["parameters"] = [x for x in op["parameters"] if not (x.get("in") == "path" and x.get("name") == "tenant")]
        if "parameters" in ops:
            ops["parameters"] = [x for x in ops["parameters"] if not (x.get("in") == "path" and x.get("name") == "tenant")]
        paths[fixed] = ops
    spec["paths"] = paths
    spec.pop("servers", None)
    spec_file = h.work / "openapi-fixed.json"
    spec_file.write_text(json.dumps(spec))
    st = Path(sys.executable).parent / "st"
    report = h.work / "schemathesis"
    cmd = [str(st), "run", str(spec_file), "--url", a.url, "-H", f"Authorization: Bearer {token}",
           "--checks", "not_a_server_error", "--max-time", str(seconds), "--request-timeout", "10",
           "--workers", "2", "--seed", "1", "--report", "junit", "--report-dir", str(report), "--no-color"]
    log(f"schemathesis for {seconds}s")
    started = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, cwd=h.work)  # its cache too
    (h.work / "schemathesis.out").write_text(r.stdout + r.stderr)
    tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-12:])
    t.figure(f"schemathesis ran {time.monotonic() - started:.0f}s, exit {r.returncode}; its summary:\n{tail}")
    t.check(r.returncode == 0, "schemathesis: no 5xx from the admin API (not_a_server_error)",
            f"see {h.work / 'schemathesis.out'}")
    five = [k for k in scrape(a.metrics_url) if k[0] == "gatehouse_http_requests_total"
            and dict(k[1]).get("status", "").startswith("5") and dict(k[1]).get("status") != "503"]
    t.check(not five, "node A's metrics count no 5xx (other than the drills' 503s)", five)

    # Hand-made malformed protocol requests.
    # Straight to node A: through HAProxy the 413 for the 2 MB body is sometimes lost (HAProxy
    # closes the client's connection while it is still sending, and the reset discards the
    # answer); node A itself always answers it.
    web = fuzz["web"]
    lb = a.url
    huge = "a" * 200_000
    cases = [
        ("authorize NUL client_id", "GET", f"/{slug}/oauth2/authorize?response_type=code&client_id=ab%00cd"
         f"&redirect_uri={h.redirect_uri}&scope=openid", None, "html"),
        ("authorize NUL in redirect_uri", "GET", f"/{slug}/oauth2/authorize?response_type=code&client_id="
         f"{web['client_id']}&redirect_uri=http://127.0.0.1/x%00&scope=openid", None, "html"),
        ("authorize duplicate client_id", "GET", f"/{slug}/oauth2/authorize?response_type=code&client_id="
         f"{web['client_id']}&client_id={web['client_id']}&redirect_uri={h.redirect_uri}&scope=openid", None, "html"),
        ("authorize huge scope", "GET", f"/{slug}/oauth2/authorize?response_type=code&client_id="
         f"{web['client_id']}&redirect_uri={h.redirect_uri}&scope=openid+{'x' * 20000}", None, "any"),
        ("NUL in tenant (discovery)", "GET", "/ab%00cd/.well-known/openid-configuration", None, "any"),
        ("NUL in tenant (authorize)", "GET", f"/x%00y/oauth2/authorize?client_id={web['client_id']}", None, "any"),
        ("token NUL client_id", "POST", f"/{slug}/oauth2/token",
         "grant_type=client_credentials&client_id=ab%00cd&client_secret=x", "oauth"),
        ("token NUL code", "POST", f"/{slug}/oauth2/token",
         f"grant_type=authorization_code&code=ab%00cd&client_id={web['client_id']}&client_secret=x", "oauth"),
        ("token duplicate grant_type", "POST", f"/{slug}/oauth2/token",
         "grant_type=client_credentials&grant_type=refresh_token&client_id=a&client_secret=b", "oauth"),
        ("token huge parameter", "POST", f"/{slug}/oauth2/token", f"grant_type=client_credentials&client_id={huge}",
         "oauth"),
        ("token huge body (2 MB)", "POST", f"/{slug}/oauth2/token", "a=" + "b" * 2_000_000, "oauth"),
        ("token NUL in Basic user", "POST-BASIC", f"/{slug}/oauth2/token", "grant_type=client_credentials", "oauth"),
        ("introspect NUL token", "POST", f"/{slug}/oauth2/introspect", "token=ab%00cd", "any"),
        ("userinfo NUL bearer", "GET-BEARER", f"/{slug}/oauth2/userinfo", None, "any"),
        ("Graph NUL user id", "GET-GRAPH", f"/{slug}/v1.0/users/ab%00cd", None, "graph"),
        ("Graph NUL filter", "GET-GRAPH", f"/{slug}/v1.0/users?$filter=mail%20eq%20%27a%00b%27", None, "graph"),
        ("Graph duplicate $top", "GET-GRAPH", f"/{slug}/v1.0/users?$top=1&$top=2", None, "graph"),
        ("Graph JSON body NUL (application/json)", "POST-GRAPH:application/json", f"/{slug}/v1.0/invitations",
         '{"invitedUserEmailAddress":"a\\u0000b@example.com","inviteRedirectUrl":"http://127.0.0.1/x",'
         '"sendInvitationMessage":false}', "graph"),
        ("Graph JSON body NUL (application/merge-patch+json)", "POST-GRAPH:application/merge-patch+json",
         f"/{slug}/v1.0/invitations",
         '{"invitedUserEmailAddress":"a\\u0000b@example.com","inviteRedirectUrl":"http://127.0.0.1/x",'
         '"sendInvitationMessage":false}', "graph"),
        ("Graph PATCH settings NUL (+json)", "PATCH-GRAPH:application/merge-patch+json",
         f"/{slug}/v1.0/policies/externalCollaboration", '{"privacyStatementUrl":"https://a\\u0000b.example/"}',
         "graph"),
        ("token NUL, text/plain body", "POST-CT:text/plain", f"/{slug}/oauth2/token",
         "grant_type=client_credentials&client_id=ab%00cd&client_secret=x", "oauth"),
        ("SAML SSO NUL SAMLRequest", "GET", f"/{slug}/saml2/sso?SAMLRequest=ab%00cd", None, "html"),
        ("SAML SSO huge SAMLRequest", "GET", f"/{slug}/saml2/sso?SAMLRequest={'A' * 30000}", None, "any"),
        ("SAML SSO duplicate SAMLRequest", "GET", f"/{slug}/saml2/sso?SAMLRequest=AAAA&SAMLRequest=BBBB", None, "html"),
        ("SAML SSO POST NUL", "POST", f"/{slug}/saml2/sso", "SAMLRequest=ab%00cd&RelayState=%00", "html"),
        ("SAML metadata NUL tenant", "GET", "/a%00b/saml2/metadata", None, "any"),
        ("logout NUL id_token_hint", "GET", f"/{slug}/oauth2/logout?id_token_hint=a%00b", None, "html"),
    ]
    for name, method, path, body, door in cases:
        url = lb + path
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        try:
            if method == "GET":
                r = requests.get(url, timeout=HTTP_TIMEOUT, allow_redirects=False, headers={"Accept": "text/html"})
            elif method == "GET-BEARER":
                r = requests.get(url, timeout=HTTP_TIMEOUT, headers={"Authorization": "Bearer ab\x00cd".encode().decode()})
            elif method == "GET-GRAPH":
                r = requests.get(url, timeout=HTTP_TIMEOUT, headers={"Authorization": f"Bearer {token}"})
            elif method.startswith(("POST-GRAPH:", "PATCH-GRAPH:")):
                verb, ctype = method.split("-GRAPH:")
                r = requests.request(verb, url, data=body.encode(), timeout=HTTP_TIMEOUT, headers={
                    "Authorization": f"Bearer {token}", "Content-Type": ctype})
            elif method.startswith("POST-CT:"):
                r = requests.post(url, data=body, timeout=HTTP_TIMEOUT, headers={
                    "Content-Type": method.split(":", 1)[1]})
            elif method == "POST-BASIC":
                r = requests.post(url, data=body, timeout=HTTP_TIMEOUT, headers={
                    **headers, "Authorization": "Basic YWIlMDBjZDp4"})  # "ab%00cd:x"
            else:
                r = requests.post(url, data=body, timeout=HTTP_TIMEOUT, headers=headers, allow_redirects=False)
        except (requests.RequestException, ValueError) as e:
            t.check(False, f"{name}: no transport error", repr(e)[:200])
            continue
        shape = {"html": is_html(r), "oauth": is_oauth_error(r), "graph": is_graph_error(r), "any": True}[door]
        t.check(r.status_code < 500 and (shape or r.status_code < 400),
                f"{name}: {r.status_code} {r.headers.get('Content-Type', '')[:30]} ({door} format)",
                r.text[:200])
    rss_line(t, h.a, h.b)


# ----------------------------------------------------------------------------- the run
TITLES = {
    "kill-node": "kill -9 node A mid-sign-in, finish on node B, restart node A",
    "redis": "Redis restarted, then black-holed (SIGSTOP): fail closed, recover without restart",
    "postgres": "Postgres cut, then black-holed (TCP proxy): 503s, /readyz names it, recovery",
    "key-rotation": "back-to-back key rotations under load with a caching verifier",
    "races": "one code and one refresh token raced on both nodes",
    "drain": "SIGTERM with drain under load behind HAProxy",
    "sqlite-disk-full": "SQLite on a full tmpfs, then space freed",
    "slow-clients": "slow headers, silent and idle connections, slow body, connection caps",
    "small-pool": "a pool of 2 database connections under 50 concurrent requests",
    "fuzz": "schemathesis on the admin API; NUL, huge and duplicate protocol parameters",
}
DRILLS = ["kill-node", "redis", "postgres", "key-rotation", "races", "drain", "sqlite-disk-full",
          "slow-clients", "small-pool", "fuzz"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pg-url", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--fuzz-seconds", type=int, default=60)
    args = ap.parse_args()
    only = [x for x in args.only.split(",") if x]
    for o in only:
        if o not in DRILLS:
            print(f"unknown drill {o}; one of {', '.join(DRILLS)}", file=sys.stderr)
            return 2
    slug = f"fd-{int(time.time())}-{random.randint(1000, 9999)}"
    h = Harness(Path(args.work), args.bin, args.pg_url, slug)
    results: list[tuple[str, bool, str]] = []
    run_started = time.monotonic()
    try:
        try:
            h.setup()
        except Exception as e:  # noqa: BLE001
            log(f"setup failed: {e}")
            print("faults-conformance: 0 passed, 1 failed")
            return 1
        fns = {
            "kill-node": drill_kill_node, "redis": drill_redis, "postgres": drill_postgres,
            "key-rotation": drill_key_rotation, "races": drill_races, "drain": drill_drain,
            "sqlite-disk-full": drill_sqlite_disk_full, "slow-clients": drill_slow_clients,
            "small-pool": drill_small_pool, "fuzz": lambda h, t: drill_fuzz(h, t, args.fuzz_seconds),
        }
        for name in DRILLS:
            if only and name not in only:
                continue
            t = Tally(name)
            print(f"\n== {name}: {TITLES[name]}", flush=True)
            started = time.monotonic()
            try:
                fns[name](h, t)
            except Exception as e:  # noqa: BLE001 - a drill that breaks counts as failed
                t.check(False, f"the drill ran to its end ({type(e).__name__}: {str(e)[:400]})")
            Load.stop_all()
            for n in (h.a, h.b):
                if n.pid is None and name not in ("kill-node", "drain"):
                    t.check(False, f"node {n.name} is still running")
            took = time.monotonic() - started
            results.append((name, t.failed == 0 and t.passed > 0, f"{t.passed} checks passed, {t.failed} failed, "
                                                                  f"{took:.0f}s"))
        # The counters across the whole run, from both nodes' metrics listeners.
        if only:
            return finish(results, run_started)
        m = {n.name: n.metrics() for n in (h.a, h.b) if n.pid}
        tally = Tally("metrics")
        print("\n== metrics: the counters moved during the drills", flush=True)
        for name, samples in m.items():
            total = metric_sum(samples, "gatehouse_http_requests_total")
            signins = metric_sum(samples, "gatehouse_sign_ins_total")
            hist = metric_sum(samples, "gatehouse_http_request_duration_seconds_count")
            tally.figure(f"node {name}: {total:.0f} requests, {signins:.0f} sign-ins, {hist:.0f} timed")
            tally.check(total > 0 and hist > 0, f"node {name}: request counter and duration histogram moved")
        t_all = sum(metric_sum(s, "gatehouse_sign_ins_total") for s in m.values())
        tally.check(t_all > 0, f"gatehouse_sign_ins_total moved ({t_all:.0f} on the live nodes)")
        # No node logged an ERROR: faults are WARN (a dependency down); ERROR is a bug.
        errors = [f"{p.name}: {line.strip()[:200]}" for p in sorted(h.work.glob("node-*.log"))
                  for line in p.read_text(errors="replace").splitlines() if " ERROR " in line]
        tally.check(not errors, f"no node logged an ERROR line ({len(errors)} found)", errors[:5])
        results.append(("metrics", tally.failed == 0, f"{tally.passed} checks passed, {tally.failed} failed"))
    finally:
        h.teardown()
    return finish(results, run_started)


def finish(results: list, run_started: float) -> int:
    passed = sum(1 for _, ok, _ in results if ok)
    failed = len(results) - passed
    print(f"\nGatehouse fault drills ({time.monotonic() - run_started:.0f}s):")
    for name, ok, what in results:
        print(f"  {'PASS' if ok else 'FAIL'}  {name} ({what})")
    print(f"faults-conformance: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
