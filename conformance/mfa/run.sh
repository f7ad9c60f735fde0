#!/usr/bin/env bash
# Conditional access and TOTP conformance: a member signs in to two openid-client 6 apps; a
# policy created with the CLI mid-run requires MFA on app A only; the member enrols an
# authenticator and signs in with TOTP codes computed by otpauth and with a recovery code;
# negative controls must fail as specified. See conformance/mfa/README.md.
#
# Usage: conformance/mfa/run.sh [--help]
# Env:   GATEHOUSE_BIN     binary to test (default <repo>/target/release/gatehouse; relative
#                          paths are taken from the repo root)
#        GATEHOUSE_DATABASE_URL, GATEHOUSE_REDIS_URL, GATEHOUSE_REDIS_PREFIX, GATEHOUSE_MASTER_KEY
#                          passed through when set (default: SQLite and the in-process store in a
#                          fresh temp dir). With Redis and no prefix, a unique prefix is used.
#        GATEHOUSE_LOG     server log level (default warn)
#        CONFORMANCE_KEEP=1  keep the temp dir (server log, outbox, config) even on success
#        CONFORMANCE_SKIP_INSTALL=1  do not run npm ci (use what is installed)
#        CONFORMANCE_TIMEOUT  seconds allowed for the journey script (default 150)
# Exit:  0 when every check passed; non-zero on any failure (the server log tail is printed).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NODE_DIR="$HERE/node"

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

GATEHOUSE_BIN=${GATEHOUSE_BIN:-target/release/gatehouse}
case "$GATEHOUSE_BIN" in /*) ;; *) GATEHOUSE_BIN="$ROOT/$GATEHOUSE_BIN" ;; esac
TIMEOUT=${CONFORMANCE_TIMEOUT:-150}

log() { printf '[mfa-conformance %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
FINAL_PRINTED=0
die() {
  log "FAILED: $*"
  if [ "$FINAL_PRINTED" = 0 ]; then echo "mfa-conformance: 0 passed, 1 failed"; FINAL_PRINTED=1; fi
  exit 1
}

[ -x "$GATEHOUSE_BIN" ] || die "no Gatehouse binary at $GATEHOUSE_BIN (build it with 'cargo build --release' or set GATEHOUSE_BIN)"
for tool in node npm python3 curl timeout; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-mfa-conformance.XXXXXX")
SERVER_LOG="$WORK/gatehouse.log"
SERVER_PID=""

# ------------------------------------------------------------------ cleanup of what we started
stop() { # pid: TERM, wait up to 5 s, KILL
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  stop "$SERVER_PID"
  if [ "$rc" -ne 0 ]; then
    if [ -s "$SERVER_LOG" ]; then
      log "last lines of the Gatehouse log ($SERVER_LOG):"
      tail -n 40 "$SERVER_LOG" >&2 || true
    elif [ -n "$SERVER_PID" ]; then
      log "the Gatehouse log is empty at GATEHOUSE_LOG=$GATEHOUSE_LOG (rerun with GATEHOUSE_LOG=info for more)"
    fi
    if [ -s "$WORK/cli.log" ]; then
      log "CLI log ($WORK/cli.log):"
      tail -n 10 "$WORK/cli.log" >&2 || true
    fi
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
  local stamp want
  stamp="$NODE_DIR/node_modules/.gatehouse-lock.sha256"
  want=$(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "node: node_modules up to date"
    return
  fi
  log "node: npm ci (openid-client, otpauth)"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2 || die "npm ci failed in $NODE_DIR"
  echo "$want" > "$stamp"
}
[ "${CONFORMANCE_SKIP_INSTALL:-0}" = 1 ] || install_node

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# --------------------------------------------------------------------- Gatehouse and provisioning
PORT=$(free_port)
APP_PORT=$(free_port)
export GATEHOUSE_LISTEN="127.0.0.1:$PORT"
export GATEHOUSE_PUBLIC_URL="http://127.0.0.1:$PORT"
export GATEHOUSE_DATA_DIR="$WORK/data"
export GATEHOUSE_KEYS_DIR="$WORK/keys"
export GATEHOUSE_LOG=${GATEHOUSE_LOG:-warn}
# No SMTP server: mail (the security notice) is written as .eml files to $GATEHOUSE_DATA_DIR/outbox.
unset GATEHOUSE_MAIL__SMTP_URL
mkdir -p "$GATEHOUSE_DATA_DIR" "$GATEHOUSE_KEYS_DIR"

# A unique slug, so that a shared database (GATEHOUSE_DATABASE_URL) never sees a clash.
SLUG="mfa-$(date +%s)-$RANDOM"
# The caller's database / Redis settings are passed through (exported even if they were not).
[ -n "${GATEHOUSE_DATABASE_URL:-}" ] && export GATEHOUSE_DATABASE_URL
[ -n "${GATEHOUSE_REDIS_URL:-}" ] && export GATEHOUSE_REDIS_URL
[ -n "${GATEHOUSE_MASTER_KEY:-}" ] && export GATEHOUSE_MASTER_KEY
if [ -n "${GATEHOUSE_REDIS_URL:-}" ]; then
  export GATEHOUSE_REDIS_PREFIX=${GATEHOUSE_REDIS_PREFIX:-"$SLUG:"}
else
  [ -n "${GATEHOUSE_REDIS_PREFIX:-}" ] && export GATEHOUSE_REDIS_PREFIX
fi
if [ -n "${GATEHOUSE_DATABASE_URL:-}" ] && [ -z "${GATEHOUSE_MASTER_KEY:-}" ]; then
  log "note: GATEHOUSE_DATABASE_URL is set but GATEHOUSE_MASTER_KEY is not; a fresh master key is made in the temp dir, which only works on a database without a key ring"
fi

DOMAIN="$SLUG.contoso.test"
ORG="Contoso MFA"
MEMBER_EMAIL="mia@$DOMAIN"
MEMBER_NAME="Mia Member"
MEMBER_PASSWORD="Mfa-conformance-$RANDOM-$RANDOM!"
APP_ORIGIN="http://127.0.0.1:$APP_PORT"

cli() { # run one CLI command, save its JSON output as $WORK/<name>.json
  local name=$1; shift
  (cd "$WORK" && exec "$GATEHOUSE_BIN" "$@") > "$WORK/$name.json" 2>> "$WORK/cli.log" \
    || { cat "$WORK/cli.log" >&2; die "gatehouse $* failed"; }
}

log "provisioning tenant $SLUG with the CLI"
cli tenant tenant create --slug "$SLUG" --name "$ORG" --domain "$DOMAIN"
printf '%s\n' "$MEMBER_PASSWORD" | cli member user create --tenant "$SLUG" --email "$MEMBER_EMAIL" --name "$MEMBER_NAME" --password-stdin
cli app_a app create --tenant "$SLUG" --name "App A (MFA required)" --redirect-uri "$APP_ORIGIN/a/callback"
cli app_b app create --tenant "$SLUG" --name "App B (not covered)" --redirect-uri "$APP_ORIGIN/b/callback"

CONFIG="$WORK/config.json"
python3 - "$WORK" "$CONFIG" "$GATEHOUSE_PUBLIC_URL" "$APP_PORT" "$MEMBER_EMAIL" "$MEMBER_NAME" \
  "$MEMBER_PASSWORD" "$GATEHOUSE_BIN" "$GATEHOUSE_DATA_DIR" <<'PY'
import json, sys
(work, out, public_url, app_port, member_email, member_name, member_password, gatehouse_bin,
 data_dir) = sys.argv[1:]
load = lambda n: json.load(open(f"{work}/{n}.json"))
tenant, member, app_a, app_b = load("tenant"), load("member"), load("app_a"), load("app_b")
slug = tenant["slug"]
assert tenant["issuer"] == f"{public_url}/{slug}", tenant["issuer"]
app = lambda a: {"client_id": a["client_id"], "client_secret": a["client_secret"], "redirect_uri": a["redirect_uris"][0]}
for a in (app_a, app_b):
    assert "authorization_code" in a.get("grant_types", ["authorization_code"]), a
    assert "refresh_token" in a.get("grant_types", ["refresh_token"]), a
config = {
    "public_url": public_url,
    "issuer": tenant["issuer"],
    "tenant": {"id": tenant["id"], "slug": slug, "name": tenant["name"]},
    "member": {"id": member["id"], "email": member_email, "name": member_name, "password": member_password},
    "app_port": int(app_port),
    "app_a": app(app_a),
    "app_b": app(app_b),
    "cli": {"bin": gatehouse_bin, "cwd": work, "log": f"{work}/cli.log"},
    "outbox_dir": f"{data_dir}/outbox",
}
json.dump(config, open(out, "w"), indent=2)
PY

log "starting $GATEHOUSE_BIN on $GATEHOUSE_LISTEN (mail to $GATEHOUSE_DATA_DIR/outbox)"
(cd "$WORK" && exec "$GATEHOUSE_BIN" serve) > "$WORK/gatehouse.stdout" 2> "$SERVER_LOG" &
SERVER_PID=$!
for i in $(seq 1 120); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || die "gatehouse serve exited early (its log follows)"
  [ "$i" = 120 ] && die "gatehouse did not answer /healthz within 60 s"
  sleep 0.5
done
log "gatehouse is up (pid $SERVER_PID)"

# ------------------------------------------------------------------------------- the journey
log "running the MFA journey (node/journey.mjs; one wait for the next 30-second TOTP step)"
start=$SECONDS
rc=0
timeout --kill-after=10 "$TIMEOUT" node "$NODE_DIR/journey.mjs" "$CONFIG" | tee "$WORK/journey.out" || rc=$?
took=$((SECONDS - start))
last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/journey.out" | tail -n1 || true)
if [ -n "$last" ]; then
  PASSED=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$last")
  FAILED=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$last")
else # the journey died or was stopped before its summary: count what it printed, plus one
  PASSED=$(grep -c '^  ok ' "$WORK/journey.out" || true)
  FAILED=$(( $(grep -c '^  FAIL ' "$WORK/journey.out" || true) + 1 ))
  [ "$rc" -ge 124 ] && log "the journey was stopped after $TIMEOUT s (CONFORMANCE_TIMEOUT)"
fi
if [ "$rc" -ne 0 ] && [ "$FAILED" -eq 0 ]; then FAILED=1; fi
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  log "gatehouse exited during the run"
  FAILED=$((FAILED + 1))
fi

DB_KIND=sqlite
[ -n "${GATEHOUSE_DATABASE_URL:-}" ] && DB_KIND=${GATEHOUSE_DATABASE_URL%%:*}
EPHEMERAL_KIND=memory
[ -n "${GATEHOUSE_REDIS_URL:-}" ] && EPHEMERAL_KIND="redis, prefix $GATEHOUSE_REDIS_PREFIX"
echo
echo "Conditional access and TOTP conformance against $("$GATEHOUSE_BIN" --version 2>/dev/null || echo gatehouse) at $GATEHOUSE_PUBLIC_URL/$SLUG"
echo "  database: $DB_KIND; ephemeral store: $EPHEMERAL_KIND; journey took ${took}s"
FINAL_PRINTED=1
echo "mfa-conformance: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
