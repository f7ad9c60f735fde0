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
RUNNER=invite
# shellcheck source=../lib/common.sh
. "$ROOT/conformance/lib/common.sh"
no_arguments "$@"

TIMEOUT=${CONFORMANCE_TIMEOUT:-180}
FINAL_PRINTED=0 # die still prints "invite-conformance: 0 passed, 1 failed"

require_tools node npm python3 curl
make_workdir
RUN_DIR="$WORK" # the CLI and the server run in the temp dir
SINK_LOG="$WORK/smtp-sink.log"
SINK_PID=""

# ------------------------------------------------------------------ cleanup of what we started
stop_helpers() { stop "${SINK_PID:-}"; } # after the server (lib/common.sh cleanup)
failure_logs() { # after the end of the server log
  empty_server_log_note
  show_log "SMTP sink log" "${SINK_LOG:-}" 10 || true
}

# ------------------------------------------------------------------------- installing the peers
[ "${CONFORMANCE_SKIP_INSTALL:-0}" = 1 ] || npm_ci "$NODE_DIR" node "openid-client, jose, smtp-server, mailparser"

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
gatehouse_env
APP_PORT=$(free_port)
export GATEHOUSE_MAIL__SMTP_URL="smtp://127.0.0.1:$SMTP_PORT"
export GATEHOUSE_MAIL__FROM="Gatehouse Invitations <invites@gatehouse.test>"

# A unique slug, so that a shared database (GATEHOUSE_DATABASE_URL) never sees a clash.
SLUG="ic-$(date +%s)-$RANDOM"
# The caller's database / Redis settings are passed through (exported even if they were not);
# with Redis and no prefix, the slug is the prefix.
pass_through GATEHOUSE_DATABASE_URL GATEHOUSE_REDIS_URL GATEHOUSE_MASTER_KEY
redis_prefix "$SLUG:"

DOMAIN="$SLUG.contoso.test"
ORG="Contoso Conformance"
MEMBER_EMAIL="mia@$DOMAIN"
MEMBER_NAME="Mia Member"
MEMBER_PASSWORD="Invite-conformance-$RANDOM-$RANDOM!"
GUEST_EMAIL="Gus.Guest@partner-$SLUG.example"
GUEST_NAME="Gus Guest"
INVITER_NAME="Invitation Robot"
WEB_ORIGIN="http://127.0.0.1:$APP_PORT"

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
start_gatehouse

# ------------------------------------------------------------------------------- the journey
log "running the guest journey (node/journey.mjs)"
run_journey "$NODE_DIR/journey.mjs" "$CONFIG"
journey_summary "Invitation conformance"
