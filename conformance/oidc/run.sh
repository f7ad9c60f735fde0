#!/usr/bin/env bash
# OIDC conformance: real, independent relying-party libraries sign in to a freshly started
# Gatehouse. See conformance/oidc/README.md.
#
# Usage: conformance/oidc/run.sh [--only openid-client|authlib] [--help]
# Env:   GATEHOUSE_BIN     binary to test (default <repo>/target/release/gatehouse; relative
#                          paths are taken from the repo root)
#        GATEHOUSE_DATABASE_URL, GATEHOUSE_REDIS_URL   passed through when set (default: SQLite and
#                          the in-process store in a fresh temp dir). A database that already
#                          holds a key ring also needs its GATEHOUSE_MASTER_KEY (passed through).
#        GATEHOUSE_LOG     server log level (default warn)
#        CONFORMANCE_KEEP=1  keep the temp dir (server log, provisioned config) even on success
#        CONFORMANCE_SKIP_INSTALL=1  do not run npm ci / pip install (use what is installed)
#        CONFORMANCE_TIMEOUT  seconds allowed per RP script (default 300)
# Exit:  0 when every RP passed; non-zero on any failure (the log tail is printed).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ONLY=""

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --only)
      ONLY=${2:?--only needs a suite name}; shift
      case "$ONLY" in openid-client|authlib) ;; *) echo "unknown suite: $ONLY (openid-client or authlib)" >&2; exit 2 ;; esac
      ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

GATEHOUSE_BIN=${GATEHOUSE_BIN:-target/release/gatehouse}
case "$GATEHOUSE_BIN" in /*) ;; *) GATEHOUSE_BIN="$ROOT/$GATEHOUSE_BIN" ;; esac
TIMEOUT=${CONFORMANCE_TIMEOUT:-300}

log() { printf '[oidc-conformance %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

[ -x "$GATEHOUSE_BIN" ] || die "no Gatehouse binary at $GATEHOUSE_BIN (build it with 'cargo build --release' or set GATEHOUSE_BIN)"
for tool in node npm python3 curl; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-oidc-conformance.XXXXXX")
SERVER_LOG="$WORK/gatehouse.log"
SERVER_PID=""

# ------------------------------------------------------------------ cleanup of what we started
cleanup() {
  local rc=$?
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -s "$SERVER_LOG" ]; then
    log "last lines of the Gatehouse log ($SERVER_LOG):"
    tail -n 40 "$SERVER_LOG" >&2 || true
  fi
  if [ "${CONFORMANCE_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
    log "temp dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------- installing the peers
install_node() {
  local dir="$HERE/openid-client" stamp want
  stamp="$dir/node_modules/.gatehouse-lock.sha256"
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "openid-client: node_modules up to date"
    return
  fi
  log "openid-client: npm ci"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2 || die "npm ci failed in $dir"
  echo "$want" > "$stamp"
}

install_python() {
  local dir="$HERE/authlib" venv stamp want
  venv="$dir/.venv"
  stamp="$venv/.gatehouse-requirements.sha256"
  want=$( (cat "$dir/requirements.txt"; python3 --version) | sha256sum | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "authlib: venv up to date"
    return
  fi
  log "authlib: python venv + pip install -r requirements.txt"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2 || die "python3 -m venv failed"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$dir/requirements.txt" >&2 \
    || die "pip install failed"
  echo "$want" > "$stamp"
}

want_suite() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

if [ "${CONFORMANCE_SKIP_INSTALL:-0}" != 1 ]; then
  want_suite openid-client && install_node
  want_suite authlib && install_python
fi

# --------------------------------------------------------------------- Gatehouse and provisioning
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

PORT=$(free_port)
export GATEHOUSE_LISTEN="127.0.0.1:$PORT"
export GATEHOUSE_PUBLIC_URL="http://127.0.0.1:$PORT"
export GATEHOUSE_DATA_DIR="$WORK/data"
export GATEHOUSE_KEYS_DIR="$WORK/keys"
export GATEHOUSE_LOG=${GATEHOUSE_LOG:-warn}
mkdir -p "$GATEHOUSE_DATA_DIR" "$GATEHOUSE_KEYS_DIR"
# GATEHOUSE_DATABASE_URL / GATEHOUSE_REDIS_URL stay as the caller set them (exported or not).
[ -n "${GATEHOUSE_DATABASE_URL:-}" ] && export GATEHOUSE_DATABASE_URL
[ -n "${GATEHOUSE_REDIS_URL:-}" ] && export GATEHOUSE_REDIS_URL
[ -n "${GATEHOUSE_MASTER_KEY:-}" ] && export GATEHOUSE_MASTER_KEY
if [ -n "${GATEHOUSE_DATABASE_URL:-}" ] && [ -z "${GATEHOUSE_MASTER_KEY:-}" ]; then
  log "note: GATEHOUSE_DATABASE_URL is set but GATEHOUSE_MASTER_KEY is not; a fresh master key is made in the temp dir, which only works on a database without a key ring"
fi

# A unique slug, so that a shared database (GATEHOUSE_DATABASE_URL) never sees a clash.
SLUG="oc-$(date +%s)-$RANDOM"
EMAIL="alice@$SLUG.example"
NAME="Alice Conformance"
PASSWORD="Conformance-$RANDOM-$RANDOM-pass!"
CB="http://127.0.0.1/oidc-conformance"

cli() { # run one CLI command, save its JSON output as $WORK/<name>.json
  local name=$1; shift
  "$GATEHOUSE_BIN" "$@" > "$WORK/$name.json" 2>> "$WORK/cli.log" \
    || { cat "$WORK/cli.log" >&2; die "gatehouse $* failed"; }
}

log "provisioning tenant $SLUG with the CLI"
cli tenant tenant create --slug "$SLUG" --name "OIDC conformance"
printf '%s\n' "$PASSWORD" | cli user user create --tenant "$SLUG" --email "$EMAIL" --name "$NAME" --password-stdin
cli web app create --tenant "$SLUG" --name "openid-client web" \
  --redirect-uri "$CB/web/callback" --post-logout-redirect-uri "$CB/web/signed-out"
cli service app create --tenant "$SLUG" --name "openid-client service" \
  --redirect-uri "$CB/service/callback" --grant client_credentials
cli es256 app create --tenant "$SLUG" --name "openid-client ES256" \
  --redirect-uri "$CB/es256/callback" --signing-alg ES256
cli public app create --tenant "$SLUG" --name "openid-client public" \
  --redirect-uri "$CB/public/callback" --public
cli authlib app create --tenant "$SLUG" --name "Authlib web" \
  --redirect-uri "$CB/authlib/callback" --post-logout-redirect-uri "$CB/authlib/signed-out"

CONFIG="$WORK/config.json"
python3 - "$WORK" "$CONFIG" "$EMAIL" "$NAME" "$PASSWORD" "$GATEHOUSE_PUBLIC_URL" "$CB" <<'PY'
import json, sys
work, out, email, name, password, public_url, cb = sys.argv[1:]
load = lambda n: json.load(open(f"{work}/{n}.json"))
tenant = load("tenant")
def app(n):
    a = load(n)
    return {
        "client_id": a["client_id"],
        "client_secret": a.get("client_secret"),
        "redirect_uri": f"{cb}/{n}/callback",
        "post_logout_redirect_uri": (a.get("post_logout_redirect_uris") or [None])[0],
        "signing_alg": a.get("signing_alg"),
    }
config = {
    "public_url": public_url,
    "issuer": tenant["issuer"],
    "tenant": {"id": tenant["id"], "slug": tenant["slug"]},
    "user": {"id": load("user")["id"], "email": email, "name": name, "password": password},
    "apps": {n: app(n) for n in ("web", "service", "es256", "public", "authlib")},
}
assert config["issuer"] == f"{public_url}/{tenant['slug']}", config["issuer"]
json.dump(config, open(out, "w"), indent=2)
PY

log "starting $GATEHOUSE_BIN on $GATEHOUSE_LISTEN"
"$GATEHOUSE_BIN" serve > "$WORK/gatehouse.stdout" 2> "$SERVER_LOG" &
SERVER_PID=$!
for i in $(seq 1 120); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || die "gatehouse serve exited early (its log follows)"
  [ "$i" = 120 ] && die "gatehouse did not answer /healthz within 60 s"
  sleep 0.5
done
log "gatehouse is up (pid $SERVER_PID)"

# ---------------------------------------------------------------------------------- the peers
declare -a RESULTS=()
FAILED=0
PASSED=0
run_suite() { # name, command...
  local name=$1; shift
  want_suite "$name" || return 0
  log "running $name"
  local start=$SECONDS rc=0
  timeout --kill-after=10 "$TIMEOUT" "$@" || rc=$?
  local took=$((SECONDS - start))
  if [ "$rc" -eq 0 ]; then
    PASSED=$((PASSED + 1)); RESULTS+=("PASS  $name (${took}s)")
  else
    FAILED=$((FAILED + 1)); RESULTS+=("FAIL  $name (exit $rc after ${took}s)")
  fi
}

run_suite openid-client node "$HERE/openid-client/rp.mjs" "$CONFIG"
run_suite authlib "$HERE/authlib/.venv/bin/python" "$HERE/authlib/rp.py" "$CONFIG"

kill -0 "$SERVER_PID" 2>/dev/null || { FAILED=$((FAILED + 1)); RESULTS+=("FAIL  gatehouse exited during the run"); }

echo
echo "OIDC conformance against $("$GATEHOUSE_BIN" --version 2>/dev/null || echo gatehouse) at $GATEHOUSE_PUBLIC_URL/$SLUG"
for line in "${RESULTS[@]}"; do echo "  $line"; done
[ $((PASSED + FAILED)) -gt 0 ] || die "no suite ran (unknown --only $ONLY?)"
echo "oidc-conformance: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
