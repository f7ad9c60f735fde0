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
RUNNER=mfa
# shellcheck source=../lib/common.sh
. "$ROOT/conformance/lib/common.sh"
no_arguments "$@"

TIMEOUT=${CONFORMANCE_TIMEOUT:-150}
FINAL_PRINTED=0 # die still prints "mfa-conformance: 0 passed, 1 failed"

require_tools node npm python3 curl timeout
make_workdir
RUN_DIR="$WORK" # the CLI and the server run in the temp dir

# ------------------------------------------------------------------ cleanup of what we started
failure_logs() { # after the end of the server log (lib/common.sh cleanup)
  empty_server_log_note
  show_log "CLI log" "$WORK/cli.log" 10 || true
}

# ------------------------------------------------------------------------- installing the peers
[ "${CONFORMANCE_SKIP_INSTALL:-0}" = 1 ] || npm_ci "$NODE_DIR" node "openid-client, otpauth"

# --------------------------------------------------------------------- Gatehouse and provisioning
gatehouse_env
APP_PORT=$(free_port)
# No SMTP server: mail (the security notice) is written as .eml files to $GATEHOUSE_DATA_DIR/outbox.
unset GATEHOUSE_MAIL__SMTP_URL

# A unique slug, so that a shared database (GATEHOUSE_DATABASE_URL) never sees a clash.
SLUG="mfa-$(date +%s)-$RANDOM"
# The caller's database / Redis settings are passed through (exported even if they were not);
# with Redis and no prefix, the slug is the prefix.
pass_through GATEHOUSE_DATABASE_URL GATEHOUSE_REDIS_URL GATEHOUSE_MASTER_KEY
redis_prefix "$SLUG:"

DOMAIN="$SLUG.contoso.test"
ORG="Contoso MFA"
MEMBER_EMAIL="mia@$DOMAIN"
MEMBER_NAME="Mia Member"
MEMBER_PASSWORD="Mfa-conformance-$RANDOM-$RANDOM!"
APP_ORIGIN="http://127.0.0.1:$APP_PORT"

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
start_gatehouse

# ------------------------------------------------------------------------------- the journey
log "running the MFA journey (node/journey.mjs; one wait for the next 30-second TOTP step)"
run_journey "$NODE_DIR/journey.mjs" "$CONFIG"
if [ -z "$JOURNEY_LAST" ]; then # the journey died or was stopped before its summary: count what it printed, plus one
  PASSED=$(grep -c '^  ok ' "$WORK/journey.out" || true)
  FAILED=$(( $(grep -c '^  FAIL ' "$WORK/journey.out" || true) + 1 ))
  [ "$JOURNEY_RC" -ge 124 ] && log "the journey was stopped after $TIMEOUT s (CONFORMANCE_TIMEOUT)"
fi
journey_summary "Conditional access and TOTP conformance"
