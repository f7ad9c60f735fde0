#!/usr/bin/env bash
# Guest federation conformance: guests whose home identity provider is a real third-party
# OpenID Provider (oidc-provider 9, one per partner organisation, on loopback ports) are
# invited through the Graph-shaped API, redeem by signing in at home, and sign in to an
# openid-client 6 app through home-realm discovery; the email-verification rule, MFA trust
# under a conditional-access policy and a disabled upstream account are checked, and negative
# controls must fail as specified. See conformance/federation/README.md.
#
# Usage: conformance/federation/run.sh [--help]
# Env:   GATEHOUSE_BIN     binary to test (default <repo>/target/release/gatehouse; relative
#                          paths are taken from the repo root)
#        GATEHOUSE_DATABASE_URL, GATEHOUSE_REDIS_URL, GATEHOUSE_REDIS_PREFIX, GATEHOUSE_MASTER_KEY
#                          passed through when set (default: SQLite and the in-process store in a
#                          fresh temp dir). With Redis and no prefix, a unique prefix is used.
#        GATEHOUSE_LOG     server log level (default warn)
#        CONFORMANCE_KEEP=1  keep the temp dir (server log, outbox, config) even on success
#        CONFORMANCE_SKIP_INSTALL=1  do not run npm ci (use what is installed)
#        CONFORMANCE_TIMEOUT  seconds allowed for the journey script (default 120)
# Exit:  0 when every check passed; non-zero on any failure (the server log tail is printed).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NODE_DIR="$HERE/node"
RUNNER=federation
# shellcheck source=../lib/common.sh
. "$ROOT/conformance/lib/common.sh"
no_arguments "$@"

TIMEOUT=${CONFORMANCE_TIMEOUT:-120}
FINAL_PRINTED=0 # die still prints "federation-conformance: 0 passed, 1 failed"

require_tools node npm python3 curl timeout
make_workdir
RUN_DIR="$WORK" # the CLI and the server run in the temp dir

# ------------------------------------------------------------------ cleanup of what we started
failure_logs() { # after the end of the server log (lib/common.sh cleanup)
  empty_server_log_note
  show_log "CLI log" "$WORK/cli.log" 10 || true
}

# ------------------------------------------------------------------------- installing the peers
[ "${CONFORMANCE_SKIP_INSTALL:-0}" = 1 ] || npm_ci "$NODE_DIR" node "oidc-provider, openid-client"

# --------------------------------------------------------------------- Gatehouse and provisioning
gatehouse_env
APP_PORT=$(free_port)
FABRIKAM_PORT=$(free_port)
NORTHWIND_PORT=$(free_port)
TAILSPIN_PORT=$(free_port)  # takes only client_secret_post
LITWARE_PORT=$(free_port)   # takes only private_key_jwt
DEAD_PORT=$(free_port) # nothing listens there: a partner whose discovery does not answer
# No SMTP server: the invitation mail is written as .eml files to $GATEHOUSE_DATA_DIR/outbox.
unset GATEHOUSE_MAIL__SMTP_URL
# The partners' OIDC providers run on loopback here; Gatehouse refuses private addresses
# for partner IdPs unless told this is such a setup (SSRF guard).
export GATEHOUSE_FEDERATION__ALLOW_PRIVATE_NETWORKS=true

# A unique slug, so that a shared database (GATEHOUSE_DATABASE_URL) never sees a clash.
SLUG="fed-$(date +%s)-$RANDOM"
# The caller's database / Redis settings are passed through (exported even if they were not);
# with Redis and no prefix, the slug is the prefix.
pass_through GATEHOUSE_DATABASE_URL GATEHOUSE_REDIS_URL GATEHOUSE_MASTER_KEY
redis_prefix "$SLUG:"

DOMAIN="$SLUG.contoso.test"
ORG="Contoso Federation"
APP_ORIGIN="http://127.0.0.1:$APP_PORT"
FABRIKAM_DOMAIN="fabrikam-$SLUG.example"
NORTHWIND_DOMAIN="northwind-$SLUG.example"
TAILSPIN_DOMAIN="tailspin-$SLUG.example"
LITWARE_DOMAIN="litware-$SLUG.example"

log "provisioning tenant $SLUG with the CLI"
cli tenant tenant create --slug "$SLUG" --name "$ORG" --domain "$DOMAIN"
cli inviter app create --tenant "$SLUG" --name "Invitation Robot" --grant client_credentials \
  --permission User.Invite.All --permission User.Read.All
cli app app create --tenant "$SLUG" --name "Supplier portal" --redirect-uri "$APP_ORIGIN/callback"
cli approver app create --tenant "$SLUG" --name "Guest approvals" --grant client_credentials \
  --permission User.ReadWrite.All
# The partners are registered by the journey, once their IdPs listen (registration fetches
# their discovery).

CONFIG="$WORK/config.json"
python3 - "$WORK" "$CONFIG" "$GATEHOUSE_PUBLIC_URL" "$APP_PORT" "$GATEHOUSE_BIN" "$GATEHOUSE_DATA_DIR" \
  "$FABRIKAM_PORT" "$FABRIKAM_DOMAIN" "$NORTHWIND_PORT" "$NORTHWIND_DOMAIN" "$DEAD_PORT" \
  "$TAILSPIN_PORT" "$TAILSPIN_DOMAIN" "$LITWARE_PORT" "$LITWARE_DOMAIN" <<'PY'
import json, sys
(work, out, public_url, app_port, gatehouse_bin, data_dir, fab_port, fab_domain, nw_port, nw_domain,
 dead_port, ts_port, ts_domain, lw_port, lw_domain) = sys.argv[1:]
load = lambda n: json.load(open(f"{work}/{n}.json"))
tenant, inviter, app, approver = load("tenant"), load("inviter"), load("app"), load("approver")
slug = tenant["slug"]
assert tenant["issuer"] == f"{public_url}/{slug}", tenant["issuer"]
assert "User.Invite.All" in inviter["permissions"], inviter
config = {
    "public_url": public_url,
    "issuer": tenant["issuer"],
    "tenant": {"id": tenant["id"], "slug": slug, "name": tenant["name"]},
    "app_port": int(app_port),
    "app": {"client_id": app["client_id"], "client_secret": app["client_secret"], "redirect_uri": app["redirect_uris"][0]},
    "inviter": {"client_id": inviter["client_id"], "client_secret": inviter["client_secret"]},
    "approver": {"client_id": approver["client_id"], "client_secret": approver["client_secret"]},
    "idps": {
        "fabrikam": {"port": int(fab_port), "domain": fab_domain},
        "northwind": {"port": int(nw_port), "domain": nw_domain},
        "tailspin": {"port": int(ts_port), "domain": ts_domain},
        "litware": {"port": int(lw_port), "domain": lw_domain},
        "dead_port": int(dead_port),
    },
    "guests": {
        "gus": {"email": f"gus@{fab_domain}", "name": "Gus Guest"},
        "vera": {"email": f"vera@{fab_domain}", "name": "Vera Unverified"},
        "noor": {"email": f"noor@{nw_domain}", "name": "Noor Northwind"},
        "tess": {"email": f"tess@{ts_domain}", "name": "Tess Tailspin"},
        "liam": {"email": f"liam@{lw_domain}", "name": "Liam Litware"},
    },
    "cli": {"bin": gatehouse_bin, "cwd": work, "log": f"{work}/cli.log"},
    "outbox_dir": f"{data_dir}/outbox",
}
json.dump(config, open(out, "w"), indent=2)
PY

log "starting $GATEHOUSE_BIN on $GATEHOUSE_LISTEN (mail to $GATEHOUSE_DATA_DIR/outbox)"
start_gatehouse

# ------------------------------------------------------------------------------- the journey
log "running the federation journey (node/journey.mjs; oidc-provider on 127.0.0.1:$FABRIKAM_PORT, :$NORTHWIND_PORT, :$TAILSPIN_PORT and :$LITWARE_PORT)"
run_journey "$NODE_DIR/journey.mjs" "$CONFIG"
if [ -z "$JOURNEY_LAST" ]; then # the journey died or was stopped before its summary: count what it printed, plus one
  PASSED=$(grep -c '^  ok ' "$WORK/journey.out" || true)
  FAILED=$(( $(grep -c '^  FAIL ' "$WORK/journey.out" || true) + 1 ))
  [ "$JOURNEY_RC" -ge 124 ] && log "the journey was stopped after $TIMEOUT s (CONFORMANCE_TIMEOUT)"
fi
journey_summary "Guest federation conformance"
