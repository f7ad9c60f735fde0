"""The plumbing of the fault drills (conformance/faults/drills.py): Gatehouse nodes as real
processes, a private redis-server, a TCP proxy in front of Postgres that can be cut or
black-holed, HAProxy as the load balancer, a load generator with its figures, a headless browser
signing in (conformance/lib/navigation.py derives its headers), the CLI, and /metrics read with
prometheus_client's text parser.

Everything listens on loopback only. Every wait is bounded; a drill that cannot finish raises.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit, urlencode

import requests
from prometheus_client.parser import text_string_to_metric_families

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
from navigation import Browser, sign_in_form  # noqa: E402

HTTP_TIMEOUT = 20  # seconds any one request of a drill may take before it counts as hung


class DrillFailure(AssertionError):
    """A check of a drill failed."""


# ----------------------------------------------------------------------------- reporting
class Tally:
    """The checks of one drill: each prints `ok` or `FAIL`; figures print as `figure`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, condition, message: str, detail=None) -> bool:
        if condition:
            self.passed += 1
            print(f"  ok   {message}", flush=True)
        else:
            self.failed += 1
            print(f"  FAIL {message}" + (f": {detail}" if detail is not None else ""), flush=True)
        return bool(condition)

    def figure(self, message: str) -> None:
        print(f"  --   {message}", flush=True)


def log(message: str) -> None:
    print(f"[faults-conformance {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.1):
    """Polls `predicate` until it returns something truthy; returns (value, seconds) or (None, timeout)."""
    start = time.monotonic()
    while True:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - a dependency still down
            value = None
        if value:
            return value, time.monotonic() - start
        if time.monotonic() - start > timeout:
            return None, timeout
        time.sleep(interval)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[k]


def rss_mb(pid: int | None) -> str:
    if not pid:
        return "-"
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return f"{int(line.split()[1]) / 1024:.1f} MB"
    except OSError:
        return "gone"
    return "?"


# ----------------------------------------------------------------------------- processes
class Node:
    """One `gatehouse serve` process with its own listener, metrics listener and log."""

    def __init__(self, h: "Harness", name: str, env: dict[str, str]) -> None:
        self.h = h
        self.name = name
        self.port = free_port()
        self.metrics_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}"
        self.data_dir = h.work / f"node-{name}"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(env)
        self.env.update({
            "GATEHOUSE_LISTEN": f"127.0.0.1:{self.port}",
            "GATEHOUSE_METRICS_LISTEN": f"127.0.0.1:{self.metrics_port}",
            "GATEHOUSE_DATA_DIR": str(self.data_dir),
        })
        self.proc: subprocess.Popen | None = None
        self.log_path = h.work / f"node-{name}.log"
        self.exit_code: int | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def start(self, timeout: float = 60) -> float:
        """Starts the process; returns the seconds until /readyz answered 200."""
        started = time.monotonic()
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen([self.h.bin, "serve"], env=self.env, cwd=self.data_dir,
                                         stdout=out, stderr=subprocess.STDOUT)
        self.h.nodes_started.append(self)
        self.h.remember_pid(self.proc.pid)

        def ready():
            if self.proc.poll() is not None:
                raise DrillFailure(f"node {self.name} exited at start with {self.proc.returncode} (see {self.log_path})")
            return requests.get(f"{self.url}/readyz", timeout=2).status_code == 200

        while time.monotonic() - started < timeout:
            try:
                if ready():
                    return time.monotonic() - started
            except DrillFailure:
                raise
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise DrillFailure(f"node {self.name} not ready within {timeout}s (see {self.log_path})")

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def term(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float) -> int | None:
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.exit_code

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def readyz(self, timeout: float = 10) -> tuple[int, dict]:
        r = requests.get(f"{self.url}/readyz", timeout=timeout)
        try:
            return r.status_code, r.json()
        except ValueError:
            return r.status_code, {"body": r.text[:200]}

    def metrics(self) -> dict:
        return scrape(self.metrics_url)

    def rss(self) -> str:
        return rss_mb(self.pid)


class RedisServer:
    """A private redis-server on a free port (the machine's own Redis is never touched)."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.dir = work / "redis"
        self.dir.mkdir(exist_ok=True)
        self.pidfile = self.dir / "redis.pid"
        self.url = f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        subprocess.run(["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                        "--appendonly", "no", "--daemonize", "yes", "--pidfile", str(self.pidfile),
                        "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")],
                       check=True, timeout=10)
        wait_until(lambda: self.ping(), 10)
        if not self.ping():
            raise DrillFailure("the private redis-server did not start")
        with open(self.dir.parent / "pids", "a") as f:
            f.write(f"{self.pid()}\n")

    def ping(self) -> bool:
        r = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True, timeout=3)
        return r.stdout.strip() == "PONG"

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def shutdown(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True, timeout=5)
        wait_until(lambda: not self.ping(), 5)

    def stop_signal(self, sig: int) -> None:
        pid = self.pid()
        if pid:
            os.kill(pid, sig)

    def cleanup(self) -> None:
        pid = self.pid()
        if pid:
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
        self.shutdown()


class TcpProxy:
    """A TCP proxy (asyncio, in its own thread) in front of Postgres with three modes:
    pass (forward), cut (every connection closed, new ones refused), and black-hole (new
    connections accepted, no byte forwarded either way until restored)."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.port = free_port()
        self.target = (target_host, target_port)
        self.loop = asyncio.new_event_loop()
        self.flowing: asyncio.Event | None = None
        self.server: asyncio.base_events.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()
        self._call(self._open())

    def _call(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _open(self) -> None:
        if self.flowing is None:
            self.flowing = asyncio.Event()
            self.flowing.set()
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            await self.flowing.wait()
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            self.writers.add(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await self.flowing.wait()  # black-holed: hold the bytes
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass

    async def _cut(self) -> None:
        self.server.close()
        for w in list(self.writers):
            w.transport.abort()
        self.writers.clear()

    async def _blackhole(self) -> None:
        self.flowing.clear()

    async def _restore(self) -> None:
        if self.server is None or not self.server.is_serving():
            await self._open()
        self.flowing.set()

    def cut(self) -> None:
        self._call(self._cut())

    def blackhole(self) -> None:
        self._call(self._blackhole())

    def restore(self) -> None:
        self._call(self._restore())


class Haproxy:
    """HAProxy in front of the two nodes: health-checks /readyz every 500 ms (down after 2
    failures, up after 2 successes), a sticky cookie GHNODE (a browser pinned to a node stays
    there, and is redispatched when that node is gone)."""

    def __init__(self, work: Path, nodes: list[Node]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cfg = work / "haproxy.cfg"
        self.log = work / "haproxy.log"
        self.nodes = nodes
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        servers = "\n".join(
            f"  server {n.name} 127.0.0.1:{n.port} check cookie {n.name}" for n in self.nodes)
        self.cfg.write_text(f"""# written by conformance/faults/harness.py
global
  maxconn 4000
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option redispatch
  retries 3
frontend gatehouse
  bind 127.0.0.1:{self.port}
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 500ms fall 2 rise 2
  cookie GHNODE insert indirect nocache
{servers}
""")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.cfg)], stdout=out, stderr=subprocess.STDOUT)
        with open(self.cfg.parent / "pids", "a") as f:
            f.write(f"{self.proc.pid}\n")
        wait_until(lambda: requests.get(f"{self.url}/healthz", timeout=2).status_code == 200, 15)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# ----------------------------------------------------------------------------- metrics
LAST_SCRAPE = {"seconds": 0.0}  # how long the last scrape took

def scrape(url: str) -> dict:
    """/metrics parsed by prometheus_client: {(sample name, sorted labels): value}."""
    started = time.monotonic()
    text = requests.get(f"{url}/metrics", timeout=HTTP_TIMEOUT).text
    LAST_SCRAPE["seconds"] = time.monotonic() - started
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def metric_sum(samples: dict, name: str, **labels) -> float:
    total = 0.0
    for (n, lbls), v in samples.items():
        if n != name:
            continue
        d = dict(lbls)
        if all((d.get(k) == v2 if not callable(v2) else v2(d.get(k))) for k, v2 in labels.items()):
            total += v
    return total


# ----------------------------------------------------------------------------- load
@dataclass
class LoadResult:
    statuses: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)  # (time, repr) of transport errors
    latencies: list = field(default_factory=list)
    timeline: list = field(default_factory=list)  # (t, status or error)
    bodies: list = field(default_factory=list)  # (status, body) of non-2xx answers, first ones

    @property
    def total(self) -> int:
        return sum(self.statuses.values()) + len(self.errors)

    def ok(self) -> int:
        return sum(v for k, v in self.statuses.items() if 200 <= k < 300)

    def summary(self) -> str:
        return (f"{self.total} requests, statuses {dict(sorted(self.statuses.items()))}, "
                f"transport errors {len(self.errors)}, p50 {percentile(self.latencies, 50) * 1000:.1f} ms, "
                f"p99 {percentile(self.latencies, 99) * 1000:.1f} ms, max {max(self.latencies or [0]) * 1000:.1f} ms")


class Load:
    """`workers` threads, each with its own connection pool, calling `request(session, i)` in a
    loop until stopped. `request` returns a requests.Response; its status is counted."""

    active: set = set()

    @classmethod
    def stop_all(cls) -> None:
        """Stops what a drill left running (one that ended in an exception)."""
        for load in list(cls.active):
            load.stop()

    def __init__(self, request, workers: int = 4, pause: float = 0.0, on_response=None) -> None:
        self.request = request
        self.workers = workers
        self.pause = pause
        self.on_response = on_response
        self.result = LoadResult()
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.t0 = time.monotonic()

    def _run(self, w: int) -> None:
        session = requests.Session()
        i = 0
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                res = self.request(session, w * 1_000_000 + i)
                took = time.monotonic() - started
                with self.lock:
                    self.result.statuses[res.status_code] = self.result.statuses.get(res.status_code, 0) + 1
                    self.result.latencies.append(took)
                    self.result.timeline.append((started - self.t0, res.status_code))
                    if res.status_code >= 300 and len(self.result.bodies) < 20:
                        self.result.bodies.append((res.status_code, res.text[:300]))
                if self.on_response:
                    self.on_response(res)
            except requests.RequestException as e:
                with self.lock:
                    self.result.errors.append((started - self.t0, type(e).__name__ + ": " + str(e)[:160]))
                    self.result.timeline.append((started - self.t0, type(e).__name__))
            i += 1
            if self.pause:
                time.sleep(self.pause)

    def start(self) -> "Load":
        Load.active.add(self)
        self.t0 = time.monotonic()
        for w in range(self.workers):
            t = threading.Thread(target=self._run, args=(w,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self) -> LoadResult:
        Load.active.discard(self)
        self.stop_event.set()
        for t in self.threads:
            t.join(HTTP_TIMEOUT + 5)
        return self.result


# ----------------------------------------------------------------------------- OAuth and browser
def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class SignIn:
    """A person signing in with a browser (navigation.Browser) through the load balancer: one
    step at a time, so that a drill can stop between steps. `advance()` does one request."""

    def __init__(self, h: "Harness", pin: str | None = None, scope: str = "openid offline_access",
                 issuer: str | None = None, web: dict | None = None) -> None:
        self.h = h
        issuer = issuer or h.issuer
        web = web or h.web
        self.browser = Browser()
        if pin:  # the load balancer's sticky cookie: this browser was sent to node `pin` before
            self.browser.session.cookies.set("GHNODE", pin, domain="127.0.0.1", path="/")
        self.verifier, challenge = pkce()
        self.state = secrets.token_urlsafe(12)
        self.authorize_url = f"{issuer}/oauth2/authorize?" + urlencode({
            "response_type": "code", "client_id": web["client_id"], "redirect_uri": h.redirect_uri,
            "scope": scope, "state": self.state, "code_challenge": challenge, "code_challenge_method": "S256",
        })
        self.next = ("GET", self.authorize_url, None)
        self.stage: str | None = None
        self.code: str | None = None
        self.trail: list[str] = []
        self.seen: list[str] = []  # the sign-in pages shown, in order

    def advance(self) -> requests.Response:
        method, url, data = self.next
        res = self.browser.request(method, url, data, timeout=HTTP_TIMEOUT)
        loc = res.headers.get("Location")
        self.trail.append(f"{method} {urlsplit(url).path} -> {res.status_code}")
        if 300 <= res.status_code < 400 and loc:
            target = urljoin(url, loc)
            if target.startswith(self.h.redirect_uri):
                q = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
                if q.get("state") != self.state:
                    raise DrillFailure(f"state mismatch in {target}")
                if "code" not in q:
                    raise DrillFailure(f"no code in {target}")
                self.code = q["code"]
                self.stage = "done"
                return res
            self.next = ("GET", target, None)
            return res
        if res.status_code != 200:
            self.stage = f"http-{res.status_code}"
            return res
        form = sign_in_form(res.text, url)
        if form is None:
            raise DrillFailure(f"a page without a sign-in form at {url}: {res.text[:300]}")
        self.stage = form["hidden"]["step"]
        self.seen.append(self.stage)
        fields = dict(form["hidden"])
        if self.stage == "identify":
            fields["email"] = self.h.email
        elif self.stage == "password":
            fields["password"] = self.h.password
        elif self.stage == "consent":
            fields["decision"] = "allow"
        self.next = ("POST", form["action"], fields)
        return res

    def run_until(self, stage: str, max_steps: int = 12) -> None:
        """Advances until the page of `stage` is shown (or the code arrived, for "done")."""
        for _ in range(max_steps):
            if self.stage == stage:
                return
            self.advance()
            if self.stage and self.stage.startswith("http-"):
                raise DrillFailure(f"sign-in answered {self.stage}: {self.trail}")
        if self.stage != stage:
            raise DrillFailure(f"sign-in did not reach {stage}: {self.trail}")


def token_request(base_issuer: str, client: dict, form: dict, session=None, timeout: float = HTTP_TIMEOUT):
    s = session or requests
    return s.post(f"{base_issuer}/oauth2/token", data=form, auth=(client["client_id"], client["client_secret"]),
                  timeout=timeout)


# ----------------------------------------------------------------------------- the harness
class Harness:
    """The cluster and its dependencies, with the provisioned tenant, apps and user."""

    def __init__(self, work: Path, gatehouse_bin: str, pg_url: str, slug: str) -> None:
        self.work = work
        self.bin = gatehouse_bin
        self.pg_admin_url = pg_url  # the machine's Postgres (to create and drop our database)
        self.slug = slug
        self.db_name = "gh_faults_" + slug.replace("-", "_")
        u = urlsplit(pg_url)
        self.pg_host, self.pg_port = u.hostname or "127.0.0.1", u.port or 5432
        self.pg_user = u.username or "postgres"
        self.direct_db_url = f"postgres://{self.pg_user}@{self.pg_host}:{self.pg_port}/{self.db_name}"
        self.master_key = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        self.nodes_started: list[Node] = []
        self.redis = RedisServer(work)
        self.pg_proxy = TcpProxy(self.pg_port, self.pg_host)
        self.email = f"fay@{slug}.example"
        self.password = f"Faults-{secrets.token_hex(6)}-pass!"
        self.redirect_uri = "http://127.0.0.1/faults-callback"
        self.cleanups: list = []

    # -- setup
    def remember_pid(self, pid: int) -> None:
        """run.sh's cleanup kills these should this process be stopped before its own."""
        with open(self.work / "pids", "a") as f:
            f.write(f"{pid}\n")

    def psql(self, sql: str) -> None:
        subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", self.pg_admin_url, "-c", sql], check=True,
                       timeout=30, capture_output=True)

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
        env.update({
            "GATEHOUSE_LOG": os.environ.get("GATEHOUSE_LOG", "warn"),
            "GATEHOUSE_MASTER_KEY": self.master_key,
            "GATEHOUSE_KEYS_DIR": str(self.work / "keys"),
            "GATEHOUSE_DATA_DIR": str(self.work / "data"),
        })
        return env

    def cluster_env(self) -> dict[str, str]:
        env = self.base_env()
        env.update({
            "GATEHOUSE_DATABASE_URL": f"postgres://{self.pg_user}@127.0.0.1:{self.pg_proxy.port}/{self.db_name}",
            "GATEHOUSE_REDIS_URL": self.redis.url,
            "GATEHOUSE_REDIS_PREFIX": f"{self.slug}:",
            "GATEHOUSE_PUBLIC_URL": self.lb_url,
            "GATEHOUSE_KEYS__JWKS_MAX_AGE": "5",
            "GATEHOUSE_KEYS__REFRESH_INTERVAL": "1",
            "GATEHOUSE_SERVER__DRAIN_SECONDS": "5",
        })
        return env

    def cli(self, *args: str, env: dict | None = None, stdin: str | None = None) -> dict:
        e = env or self.cli_env()
        r = subprocess.run([self.bin, *args], env=e, cwd=self.work, input=stdin, capture_output=True, text=True,
                           timeout=60)
        with open(self.work / "cli.log", "a") as f:
            f.write(f"$ gatehouse {' '.join(args)}\n{r.stderr}\n")
        if r.returncode != 0:
            raise DrillFailure(f"gatehouse {' '.join(args)} failed ({r.returncode}): {r.stderr[-500:]}")
        try:
            return json.loads(r.stdout) if r.stdout.strip() else {}
        except ValueError:
            return {"stdout": r.stdout}

    def cli_raw(self, *args: str) -> tuple[int, str, str]:
        """One CLI command on the cluster's database: (exit status, stdout, stderr)."""
        r = subprocess.run([self.bin, *args], env=self.cli_env(), cwd=self.work, capture_output=True, text=True,
                           timeout=60)
        with open(self.work / "cli.log", "a") as f:
            f.write(f"$ gatehouse {' '.join(args)} -> {r.returncode}\n{r.stderr}\n")
        return r.returncode, r.stdout, r.stderr

    def cli_env(self) -> dict[str, str]:
        env = self.base_env()
        env["GATEHOUSE_DATABASE_URL"] = self.direct_db_url
        env["GATEHOUSE_PUBLIC_URL"] = self.lb_url
        env["GATEHOUSE_KEYS__JWKS_MAX_AGE"] = "5"
        env["GATEHOUSE_KEYS__REFRESH_INTERVAL"] = "1"
        return env

    def provision(self, env: dict, slug: str) -> dict:
        """A tenant with a member, a web app (code + refresh) and a backend app holding every
        admin-API permission (client credentials); returns them."""
        out = {"slug": slug}
        out["tenant"] = self.cli("tenant", "create", "--slug", slug, "--name", f"Faults {slug}", env=env)
        out["user"] = self.cli("user", "create", "--tenant", slug, "--email", self.email, "--name", "Fay Faults",
                               "--password-stdin", env=env, stdin=self.password + "\n")
        out["web"] = self.cli("app", "create", "--tenant", slug, "--name", "Faults web", "--redirect-uri",
                              self.redirect_uri, "--grant", "authorization_code", "--grant", "refresh_token", env=env)
        perms = []
        for p in ["User.Invite.All", "User.Read.All", "User.ReadWrite.All", "AuditLog.Read.All", "Policy.Read.All",
                  "Policy.ReadWrite.ConditionalAccess", "Policy.ReadWrite.Authorization",
                  "UserAuthenticationMethod.ReadWrite.All", "IdentityProvider.ReadWrite.All",
                  "OrganizationalBranding.ReadWrite.All"]:
            perms += ["--permission", p]
        out["backend"] = self.cli("app", "create", "--tenant", slug, "--name", "Faults backend", "--grant",
                                  "client_credentials", *perms, env=env)
        return out

    def setup(self) -> None:
        log(f"creating database {self.db_name}")
        (self.work / "database").write_text(self.db_name)
        self.psql(f'CREATE DATABASE "{self.db_name}"')
        self.cleanups.append(lambda: self.psql(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        self.redis.start()
        self.cleanups.append(self.redis.cleanup)
        log(f"private redis-server on port {self.redis.port}")
        self.pg_proxy.start()
        log(f"Postgres proxy on port {self.pg_proxy.port} -> {self.pg_host}:{self.pg_port}")
        # The load balancer's port is known before the nodes start: it is their public URL.
        self.lb_port = free_port()
        self.lb_url = f"http://127.0.0.1:{self.lb_port}"
        self.cli("migrate")
        world = self.provision(self.cli_env(), self.slug)
        self.web, self.backend, self.tenant = world["web"], world["backend"], world["tenant"]
        self.issuer = f"{self.lb_url}/{self.slug}"
        self.a = Node(self, "a", self.cluster_env())
        self.b = Node(self, "b", self.cluster_env())
        for n in (self.a, self.b):
            took = n.start()
            log(f"node {n.name} ready on {n.url} in {took:.1f}s (metrics {n.metrics_url})")
        self.lb = Haproxy(self.work, [self.a, self.b])
        self.lb.port, self.lb.url = self.lb_port, self.lb_url
        self.lb.start()
        self.cleanups.append(self.lb.stop)
        log(f"HAProxy on {self.lb.url}")
        d = requests.get(f"{self.a.url}/{self.slug}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT).json()
        self.jwks_path = urlsplit(d["jwks_uri"]).path

    def wait_lb(self, timeout: float = 10) -> float:
        """Waits until HAProxy has marked every running node of the cluster up again (its
        health check: 2 passes 500 ms apart); returns the seconds waited."""
        start = time.monotonic()
        want = {n.name for n in (self.a, self.b) if n.pid}
        while time.monotonic() - start < timeout:
            seen = set()
            for _ in range(6):
                try:
                    s = requests.Session()
                    r = s.get(f"{self.lb_url}/readyz", timeout=2)
                    if r.status_code == 200:
                        seen.add(r.cookies.get("GHNODE") or "?")
                except requests.RequestException:
                    pass
            if want <= seen:
                return time.monotonic() - start
            time.sleep(0.2)
        raise DrillFailure(f"HAProxy did not route to nodes {sorted(want)} within {timeout}s")

    def node_issuer(self, node: Node, slug: str | None = None) -> str:
        return f"{node.url}/{slug or self.slug}"

    def backend_token(self, base: str | None = None, client: dict | None = None) -> str:
        r = token_request(base or f"{self.a.url}/{self.slug}", client or self.backend, {"grant_type": "client_credentials"})
        if r.status_code != 200:
            raise DrillFailure(f"client_credentials answered {r.status_code}: {r.text[:300]}")
        return r.json()["access_token"]

    def teardown(self) -> None:
        for n in reversed(self.nodes_started):
            try:
                n.stop()
            except Exception as e:  # noqa: BLE001
                log(f"stopping node {n.name}: {e}")
        for c in reversed(self.cleanups):
            try:
                c()
            except Exception as e:  # noqa: BLE001
                log(f"cleanup: {e}")
        # Everything is stopped: run.sh's fallback has nothing left to kill.
        (self.work / "pids").unlink(missing_ok=True)
