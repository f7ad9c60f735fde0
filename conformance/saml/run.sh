#!/usr/bin/env bash
# SAML conformance: real, independent service-provider libraries accept what a freshly started
# Gatehouse issues, and reject tampered copies. See conformance/saml/README.md.
#
# Usage: conformance/saml/run.sh [--only python3-saml|pysaml2|node-saml|xmlsec1] [--help]
# Env:   GATEHOUSE_BIN     binary to test (default <repo>/target/release/gatehouse; relative
#                          paths are taken from the repo root)
#        GATEHOUSE_DATABASE_URL, GATEHOUSE_REDIS_URL, GATEHOUSE_REDIS_PREFIX   passed through when
#                          set (default: SQLite and the in-process store in a fresh temp dir). A
#                          database that already holds a key ring also needs its
#                          GATEHOUSE_MASTER_KEY (passed through).
#        GATEHOUSE_LOG     server log level (default warn)
#        CONFORMANCE_KEEP=1  keep the temp dir (server log, config, responses) even on success
#        CONFORMANCE_SKIP_INSTALL=1  do not run npm ci / pip install (use what is installed)
#        CONFORMANCE_TIMEOUT  seconds allowed per SP suite (default 300)
# Exit:  0 when every suite passed; non-zero on any failure (the log tail is printed).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SUITES="python3-saml pysaml2 node-saml xmlsec1"
ONLY=""

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --only)
      ONLY=${2:?--only needs a suite name}; shift
      case " $SUITES " in *" $ONLY "*) ;; *) echo "unknown suite: $ONLY (one of: $SUITES)" >&2; exit 2 ;; esac
      ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

GATEHOUSE_BIN=${GATEHOUSE_BIN:-target/release/gatehouse}
case "$GATEHOUSE_BIN" in /*) ;; *) GATEHOUSE_BIN="$ROOT/$GATEHOUSE_BIN" ;; esac
TIMEOUT=${CONFORMANCE_TIMEOUT:-300}

log() { printf '[saml-conformance %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

[ -x "$GATEHOUSE_BIN" ] || die "no Gatehouse binary at $GATEHOUSE_BIN (build it with 'cargo build --release' or set GATEHOUSE_BIN)"
for tool in node npm python3 curl openssl xmlsec1 timeout; do
  command -v "$tool" >/dev/null || die "$tool is required (xmlsec1: Debian package xmlsec1)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-saml-conformance.XXXXXX")
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

want_suite() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

# ------------------------------------------------------------------------- installing the peers
install_node() {
  local dir="$HERE/node-saml" stamp want
  stamp="$dir/node_modules/.gatehouse-lock.sha256"
  want=$( (cat "$dir/package-lock.json"; node --version) | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "node-saml: node_modules up to date"
    return
  fi
  log "node-saml: npm ci"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2 || die "npm ci failed in $dir"
  echo "$want" > "$stamp"
}

install_python() {
  local venv="$HERE/.venv" stamp want
  stamp="$venv/.gatehouse-requirements.sha256"
  want=$( (cat "$HERE/requirements.txt"; python3 --version) | sha256sum | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "python: venv up to date"
    return
  fi
  log "python: venv + pip install -r requirements.txt (python3-saml, pysaml2)"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" >&2 \
    || die "pip install failed"
  # python3-saml refuses to work when lxml and xmlsec disagree on libxml2: fail here, not later.
  "$venv/bin/python" -c 'import xmlsec, onelogin.saml2.auth, saml2.client' >&2 \
    || die "the installed python3-saml/xmlsec/pysaml2 do not import"
  echo "$want" > "$stamp"
}

if [ "${CONFORMANCE_SKIP_INSTALL:-0}" != 1 ]; then
  want_suite node-saml && install_node
  install_python  # always: provisioning uses pysaml2 to write its SP metadata
fi
PY="$HERE/.venv/bin/python"
[ -x "$PY" ] || die "no venv at $HERE/.venv (run without CONFORMANCE_SKIP_INSTALL)"

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
mkdir -p "$GATEHOUSE_DATA_DIR" "$GATEHOUSE_KEYS_DIR" "$WORK/sp"
# Database, Redis and master key stay as the caller set them (exported or not).
[ -n "${GATEHOUSE_DATABASE_URL:-}" ] && export GATEHOUSE_DATABASE_URL
[ -n "${GATEHOUSE_REDIS_URL:-}" ] && export GATEHOUSE_REDIS_URL
[ -n "${GATEHOUSE_REDIS_PREFIX:-}" ] && export GATEHOUSE_REDIS_PREFIX
[ -n "${GATEHOUSE_MASTER_KEY:-}" ] && export GATEHOUSE_MASTER_KEY
if [ -n "${GATEHOUSE_DATABASE_URL:-}" ] && [ -z "${GATEHOUSE_MASTER_KEY:-}" ]; then
  log "note: GATEHOUSE_DATABASE_URL is set but GATEHOUSE_MASTER_KEY is not; a fresh master key is made in the temp dir, which only works on a database without a key ring"
fi

# A unique slug, so that a shared database (GATEHOUSE_DATABASE_URL) never sees a clash.
SLUG="sc-$(date +%s)-$RANDOM"
EMAIL="alice@$SLUG.example"
# User-controlled strings with markup in them (SECURITY I5): they must arrive unchanged.
NAME="Alice <b>\"Conformance\" & 'Co'</b> ]]> <!-- x -->"
GIVEN="Alice"
FAMILY="O'Neil & <Sons>"
PASSWORD="Conformance-$RANDOM-$RANDOM-pass!"
# ACS and SLO addresses: nothing listens there; the suites read the auto-post form instead.
SP="http://127.0.0.1/saml-conformance/$SLUG"

cli() { # run one CLI command, save its JSON output as $WORK/<name>.json
  local name=$1; shift
  "$GATEHOUSE_BIN" "$@" > "$WORK/$name.json" 2>> "$WORK/cli.log" \
    || { cat "$WORK/cli.log" >&2; die "gatehouse $* failed"; }
}

sp_keypair() { # an SP signing key and self-signed certificate
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=$1 SAML SP (conformance)" \
    -keyout "$WORK/sp/$1.key" -out "$WORK/sp/$1.crt" 2>/dev/null || die "openssl could not make a key for $1"
}
for sp in python3-saml pysaml2 node-saml-signed; do sp_keypair "$sp"; done

log "provisioning tenant $SLUG with the CLI"
cli tenant tenant create --slug "$SLUG" --name "SAML conformance"
printf '%s\n' "$PASSWORD" | cli user user create --tenant "$SLUG" --email "$EMAIL" --name "$NAME" \
  --given-name "$GIVEN" --family-name "$FAMILY" --password-stdin

# python3-saml: signed HTTP-Redirect AuthnRequests, Response and Assertion signed, SLO.
cli python3-saml app create --tenant "$SLUG" --name "python3-saml SP" \
  --saml-entity-id "$SP/python3-saml" --saml-acs-url "$SP/python3-saml/acs" \
  --saml-slo-url "$SP/python3-saml/slo" --saml-certificate "$WORK/sp/python3-saml.crt" \
  --saml-requests-signed --saml-sign-response
# pysaml2: registered from the SP metadata pysaml2 itself generates (signed HTTP-POST requests).
"$PY" "$HERE/python/pysaml2_sp.py" --write-metadata "$SP/pysaml2" "$WORK/sp/pysaml2" \
  > "$WORK/sp/pysaml2-metadata.xml" || die "pysaml2 could not generate its SP metadata"
cli pysaml2 app create --tenant "$SLUG" --name "pysaml2 SP" --saml-metadata "$WORK/sp/pysaml2-metadata.xml"
# node-saml: unsigned HTTP-Redirect requests, only the Assertion signed.
cli node-saml app create --tenant "$SLUG" --name "node-saml SP" \
  --saml-entity-id "$SP/node-saml" --saml-acs-url "$SP/node-saml/acs"
# node-saml, second SP: signed HTTP-POST requests, Response signed too, SLO.
cli node-saml-signed app create --tenant "$SLUG" --name "node-saml signed SP" \
  --saml-entity-id "$SP/node-saml-signed" --saml-acs-url "$SP/node-saml-signed/acs" \
  --saml-slo-url "$SP/node-saml-signed/slo" --saml-certificate "$WORK/sp/node-saml-signed.crt" \
  --saml-requests-signed --saml-sign-response
# xmlsec1 as an outside oracle: an Assertion-only SP, a Response-signed SP (their persistent
# NameIDs must differ), and an SP registered for e-mail NameIDs.
cli xmlsec1 app create --tenant "$SLUG" --name "xmlsec1 oracle" \
  --saml-entity-id "$SP/xmlsec1" --saml-acs-url "$SP/xmlsec1/acs"
cli xmlsec1-signed app create --tenant "$SLUG" --name "xmlsec1 oracle, signed Response" \
  --saml-entity-id "$SP/xmlsec1-signed" --saml-acs-url "$SP/xmlsec1-signed/acs" --saml-sign-response
cli xmlsec1-email app create --tenant "$SLUG" --name "xmlsec1 oracle, e-mail NameID" \
  --saml-entity-id "$SP/xmlsec1-email" --saml-acs-url "$SP/xmlsec1-email/acs" --saml-nameid-format emailAddress

CONFIG="$WORK/config.json"
"$PY" - "$WORK" "$CONFIG" "$GATEHOUSE_PUBLIC_URL" "$SP" "$EMAIL" "$NAME" "$GIVEN" "$FAMILY" "$PASSWORD" <<'PY'
import json, sys
work, out, public_url, sp, email, name, given, family, password = sys.argv[1:]
load = lambda n: json.load(open(f"{work}/{n}.json"))
tenant = load("tenant")
issuer = tenant["issuer"]
assert issuer == f"{public_url}/{tenant['slug']}", issuer
def app(n):
    a = load(n)
    s = a["saml"]
    assert len(s["acs"]) == 1, s["acs"]
    return {
        "client_id": a["client_id"],
        "entity_id": s["entity_id"],
        "acs": s["acs"][0]["url"],
        "slo": s.get("slo_url"),
        "nameid_format": s["nameid_format"],
        "requests_signed": s["authn_requests_signed"],
        "sign_response": s["sign_response"],
        "cert_file": f"{work}/sp/{n}.crt",
        "key_file": f"{work}/sp/{n}.key",
    }
apps = {n: app(n) for n in ("python3-saml", "pysaml2", "node-saml", "node-saml-signed", "xmlsec1", "xmlsec1-signed",
                              "xmlsec1-email")}
for n, a in apps.items():
    assert a["entity_id"] == f"{sp}/{n}", (n, a["entity_id"])
    assert a["acs"] == f"{sp}/{n}/acs", (n, a["acs"])
config = {
    "public_url": public_url,
    "issuer": issuer,
    "metadata_url": f"{issuer}/saml/metadata",
    "sso_url": f"{issuer}/saml/sso",
    "slo_url": f"{issuer}/saml/slo",
    "tenant": {"id": tenant["id"], "slug": tenant["slug"]},
    "user": {"id": load("user")["id"], "email": email, "name": name, "given_name": given,
             "family_name": family, "password": password},
    "apps": apps,
    "work": work,
}
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
    [ "$rc" -eq 124 ] && log "$name timed out after ${TIMEOUT}s"
    FAILED=$((FAILED + 1)); RESULTS+=("FAIL  $name (exit $rc after ${took}s)")
  fi
}

run_suite python3-saml "$PY" "$HERE/python/python3_saml_sp.py" "$CONFIG"
run_suite pysaml2 "$PY" "$HERE/python/pysaml2_sp.py" "$CONFIG"
run_suite node-saml node "$HERE/node-saml/sp.mjs" "$CONFIG"
run_suite xmlsec1 "$PY" "$HERE/python/xmlsec1_oracle.py" "$CONFIG"

kill -0 "$SERVER_PID" 2>/dev/null || { FAILED=$((FAILED + 1)); RESULTS+=("FAIL  gatehouse exited during the run"); }

echo
echo "SAML conformance against $("$GATEHOUSE_BIN" --version 2>/dev/null || echo gatehouse) at $GATEHOUSE_PUBLIC_URL/$SLUG"
for line in "${RESULTS[@]}"; do echo "  $line"; done
[ $((PASSED + FAILED)) -gt 0 ] || die "no suite ran"
echo "saml-conformance: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
