#!/usr/bin/env bash
# B2B invitation conformance: a guest is invited through the Graph-shaped API, gets the e-mail
# on a real SMTP server, redeems it, and signs in to an openid-client 6 app; a member signs in
# beside it; negative controls must fail as specified. See conformance/invite/README.md.
#
# Usage: conformance/invite/run.sh [--help]
# Env:   GATEHOUSE_BIN     binary to test (default <repo>/target/release/gatehouse; relative
#                          paths are taken from the repo root)
#        GATEHOUSE_DATABASE_URL, GATEHOUSE_REDIS_URL, GATEHOUSE_REDIS_PREFIX, GATEHOUSE_MASTER_KEY
#                          passed through when set (default: SQLite and the in-process store in a
#                          fresh temp dir). With Redis and no prefix, a unique prefix is used.
#        GATEHOUSE_LOG     server log level (default warn)
#        CONFORMANCE_KEEP=1  keep the temp dir (server log, mail sink log, config) even on success
#        CONFORMANCE_SKIP_INSTALL=1  do not run npm ci (use what is installed)
#        CONFORMANCE_TIMEOUT  seconds allowed for the journey script (default 180)
# Exit:  0 when every check passed; non-zero on any failure (the server log tail is printed).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NODE_DIR="$HERE/node"

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

GATEHOUSE_BIN=${GATEHOUSE_BIN:-target/release/gatehouse}
case "$GATEHOUSE_BIN" in /*) ;; *) GATEHOUSE_BIN="$ROOT/$GATEHOUSE_BIN" ;; esac
TIMEOUT=${CONFORMANCE_TIMEOUT:-180}

log() { printf '[invite-conformance %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
FINAL_PRINTED=0
die() {
  log "FAILED: $*"
  if [ "$FINAL_PRINTED" = 0 ]; then echo "invite-conformance: 0 passed, 1 failed"; FINAL_PRINTED=1; fi
  exit 1
}

[ -x "$GATEHOUSE_BIN" ] || die "no Gatehouse binary at $GATEHOUSE_BIN (build it with 'cargo build --release' or set GATEHOUSE_BIN)"
for tool in node npm python3 curl; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-invite-conformance.XXXXXX")
SERVER_LOG="$WORK/gatehouse.log"
SINK_LOG="$WORK/smtp-sink.log"
SERVER_PID=""
SINK_PID=""

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
  stop "$SINK_PID"
  if [ "$rc" -ne 0 ]; then
    if [ -s "$SERVER_LOG" ]; then
      log "last lines of the Gatehouse log ($SERVER_LOG):"
      tail -n 40 "$SERVER_LOG" >&2 || true
    elif [ -n "$SERVER_PID" ]; then
      log "the Gatehouse log is empty at GATEHOUSE_LOG=$GATEHOUSE_LOG (rerun with GATEHOUSE_LOG=info for more)"
    fi
    if [ -s "$SINK_LOG" ]; then
      log "SMTP sink log ($SINK_LOG):"
      tail -n 10 "$SINK_LOG" >&2 || true
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
  log "node: npm ci (openid-client, jose, smtp-server, mailparser)"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2 || die "npm ci failed in $NODE_DIR"
  echo "$want" > "$stamp"
}
[ "${CONFORMANCE_SKIP_INSTALL:-0}" = 1 ] || install_node

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------------------- the SMTP server
log "starting the SMTP sink (smtp-server) on 127.0.0.1"
node "$NODE_DIR/smtp-sink.mjs" > "$WORK/smtp-sink.json" 2> "$SINK_LOG" &
SINK_PID=$!
for i in $(seq 1 50); do
  grep -q '"ready":true' "$WORK/smtp-sink.json" 2>/dev/null && break
  kill -0 "$SINK_PID" 2>/dev/null || die "the SMTP sink exited early: $(cat "$SINK_LOG")"
  [ "$i" = 50 ] && die "the SMTP sink did not start within 10 s"
  sleep 0.2
done
read -r SMTP_PORT SINK_HTTP_PORT < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["smtp_port"], d["http_port"])' "$WORK/smtp-sink.json")
log "SMTP sink: smtp://127.0.0.1:$SMTP_PORT (API http://127.0.0.1:$SINK_HTTP_PORT)"

# --------------------------------------------------------------------- Gatehouse and provisioning
PORT=$(free_port)
APP_PORT=$(free_port)
export GATEHOUSE_LISTEN="127.0.0.1:$PORT"
export GATEHOUSE_PUBLIC_URL="http://127.0.0.1:$PORT"
export GATEHOUSE_DATA_DIR="$WORK/data"
export GATEHOUSE_KEYS_DIR="$WORK/keys"
export GATEHOUSE_LOG=${GATEHOUSE_LOG:-warn}
export GATEHOUSE_MAIL__SMTP_URL="smtp://127.0.0.1:$SMTP_PORT"
export GATEHOUSE_MAIL__FROM="Gatehouse Invitations <invites@gatehouse.test>"
mkdir -p "$GATEHOUSE_DATA_DIR" "$GATEHOUSE_KEYS_DIR"

# A unique slug, so that a shared database (GATEHOUSE_DATABASE_URL) never sees a clash.
SLUG="ic-$(date +%s)-$RANDOM"
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
ORG="Contoso Conformance"
MEMBER_EMAIL="mia@$DOMAIN"
MEMBER_NAME="Mia Member"
MEMBER_PASSWORD="Invite-conformance-$RANDOM-$RANDOM!"
GUEST_EMAIL="Gus.Guest@partner-$SLUG.example"
GUEST_NAME="Gus Guest"
INVITER_NAME="Invitation Robot"
WEB_ORIGIN="http://127.0.0.1:$APP_PORT"

cli() { # run one CLI command, save its JSON output as $WORK/<name>.json
  local name=$1; shift
  (cd "$WORK" && exec "$GATEHOUSE_BIN" "$@") > "$WORK/$name.json" 2>> "$WORK/cli.log" \
    || { cat "$WORK/cli.log" >&2; die "gatehouse $* failed"; }
}

log "provisioning tenant $SLUG with the CLI"
cli tenant tenant create --slug "$SLUG" --name "$ORG" --domain "$DOMAIN"
printf '%s\n' "$MEMBER_PASSWORD" | cli member user create --tenant "$SLUG" --email "$MEMBER_EMAIL" --name "$MEMBER_NAME" --password-stdin
cli inviter app create --tenant "$SLUG" --name "$INVITER_NAME" --grant client_credentials \
  --permission User.Invite.All --permission User.Read.All
cli web app create --tenant "$SLUG" --name "Partner portal" --redirect-uri "$WEB_ORIGIN/callback"

CONFIG="$WORK/config.json"
python3 - "$WORK" "$CONFIG" "$GATEHOUSE_PUBLIC_URL" "$SINK_HTTP_PORT" "$APP_PORT" "$WEB_ORIGIN" \
  "$MEMBER_EMAIL" "$MEMBER_NAME" "$MEMBER_PASSWORD" "$GUEST_EMAIL" "$GUEST_NAME" "$INVITER_NAME" <<'PY'
import json, sys
(work, out, public_url, sink_port, app_port, web_origin, member_email, member_name, member_password,
 guest_email, guest_name, inviter_name) = sys.argv[1:]
load = lambda n: json.load(open(f"{work}/{n}.json"))
tenant, inviter, web, member = load("tenant"), load("inviter"), load("web"), load("member")
slug = tenant["slug"]
assert tenant["issuer"] == f"{public_url}/{slug}", tenant["issuer"]
assert "User.Invite.All" in inviter["permissions"], inviter
config = {
    "public_url": public_url,
    "issuer": tenant["issuer"],
    "tenant": {"id": tenant["id"], "slug": slug, "name": tenant["name"], "domain": tenant["domains"][0]},
    "inviter": {"client_id": inviter["client_id"], "client_secret": inviter["client_secret"], "name": inviter_name},
    "web": {"client_id": web["client_id"], "client_secret": web["client_secret"],
            "redirect_uri": web["redirect_uris"][0], "origin": web_origin, "port": int(app_port)},
    "member": {"id": member["id"], "email": member_email, "name": member_name, "password": member_password},
    "guest": {"email": guest_email, "name": guest_name},
    "negatives": {
        "no_token_email": f"nobody@no-token-{slug}.example",
        "evil_email": f"eve@evil-{slug}.example",
        "downscoped_email": f"dora@downscoped-{slug}.example",
        "silent_email": f"sam@silent-{slug}.example",
        "cc_guest_email": f"carl@cc-{slug}.example",
        "cc_email": f"olga@{tenant['domains'][0]}",
    },
    "sink": {"http": f"http://127.0.0.1:{sink_port}"},
}
json.dump(config, open(out, "w"), indent=2)
PY

log "starting $GATEHOUSE_BIN on $GATEHOUSE_LISTEN (mail to smtp://127.0.0.1:$SMTP_PORT)"
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
log "running the guest journey (node/journey.mjs)"
start=$SECONDS
rc=0
timeout --kill-after=10 "$TIMEOUT" node "$NODE_DIR/journey.mjs" "$CONFIG" | tee "$WORK/journey.out" || rc=$?
took=$((SECONDS - start))
last=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/journey.out" | tail -n1 || true)
PASSED=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"${last:-0 passed, 0 failed}")
FAILED=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"${last:-0 passed, 0 failed}")
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
echo "Invitation conformance against $("$GATEHOUSE_BIN" --version 2>/dev/null || echo gatehouse) at $GATEHOUSE_PUBLIC_URL/$SLUG"
echo "  database: $DB_KIND; ephemeral store: $EPHEMERAL_KIND; journey took ${took}s"
FINAL_PRINTED=1
echo "invite-conformance: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
