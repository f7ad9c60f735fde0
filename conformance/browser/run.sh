#!/usr/bin/env bash
# Real-browser conformance: Debian's Chromium, driven by playwright-core, walks every page a
# person sees (sign-in, invitation redemption from the real e-mail, MFA enrolment from the QR
# code, consent, My Apps, security info, logout, error pages) to relying parties nobody here
# wrote: an openid-client 6 web app and Apache httpd with mod_auth_openidc, and as SAML SPs
# python3-saml and Apache httpd with mod_auth_mellon; guests sign in at home at partner IdPs
# (oidc-provider 9 and pysaml2, with their own sign-in pages). Every Gatehouse page the browser
# lands on is screenshotted and checked (axe-core in light and dark mode, contrast, a 390x844
# viewport, labels, autocomplete, focus). See conformance/browser/README.md.
#
# Usage: conformance/browser/run.sh [--only JOURNEY[,JOURNEY…]] [--help]
#        --only  run only these journeys (file names in journeys/ without .mjs; the default is
#                all of them, in file-name order)
# Env:   GATEHOUSE_BIN     binary to test (default <repo>/target/release/gatehouse; relative
#                          paths are taken from the repo root)
#        GATEHOUSE_DATABASE_URL, GATEHOUSE_REDIS_URL, GATEHOUSE_REDIS_PREFIX, GATEHOUSE_MASTER_KEY
#                          passed through when set (default: SQLite and the in-process store in a
#                          fresh temp dir). With Redis and no prefix, a unique prefix is used.
#        GATEHOUSE_LOG     server log level (default warn)
#        CHROMIUM          the browser (default /usr/bin/chromium; never downloaded)
#        BROWSER_ARTIFACTS directory for screenshots and the page report (default: a fresh
#                          gatehouse-browser-artifacts.XXXXXX in TMPDIR); always kept
#        CONFORMANCE_KEEP=1  keep the temp dir (logs, config) even on success
#        CONFORMANCE_SKIP_INSTALL=1  do not run npm ci / pip install (use what is installed)
#        CONFORMANCE_TIMEOUT  seconds allowed for the journeys (default 420)
# Exit:  0 when every check passed; non-zero on any failure (the server log tail is printed).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNNER=browser
# shellcheck source=../lib/common.sh
. "$ROOT/conformance/lib/common.sh"

ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --only) [ $# -ge 2 ] || { echo "--only needs a journey name" >&2; exit 2; }; ONLY=$2; shift 2 ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
for name in ${ONLY//,/ }; do
  [ -f "$HERE/journeys/$name.mjs" ] || { echo "no journey $name (journeys/$name.mjs)" >&2; exit 2; }
done

TIMEOUT=${CONFORMANCE_TIMEOUT:-420}
FINAL_PRINTED=0 # die still prints "browser-conformance: 0 passed, 1 failed"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
# Nothing may download a browser: playwright-core brings none, and this keeps it so.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1

require_tools --hint "apt-get install chromium apache2 libapache2-mod-auth-openidc libapache2-mod-auth-mellon zbar-tools xmlsec1 python3-venv" \
  node npm python3 curl timeout setsid apache2 zbarimg openssl xmlsec1 mellon_create_metadata
[ -x "$CHROMIUM" ] || die "no Chromium at $CHROMIUM (apt-get install chromium, or set CHROMIUM)"
[ -f /usr/lib/apache2/modules/mod_auth_openidc.so ] || die "mod_auth_openidc is missing (apt-get install libapache2-mod-auth-openidc)"
[ -f /usr/lib/apache2/modules/mod_auth_mellon.so ] || die "mod_auth_mellon is missing (apt-get install libapache2-mod-auth-mellon)"
id www-data >/dev/null 2>&1 || die "Apache runs its children as www-data, and there is no such user"

make_workdir
RUN_DIR="$WORK" # the CLI and the server run in the temp dir
# Apache's children (www-data) must reach their config, CGI and logs under WORK: traversal only.
chmod 711 "$WORK"
ARTIFACTS=${BROWSER_ARTIFACTS:-$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-browser-artifacts.XXXXXX")}
mkdir -p "$ARTIFACTS"
SINK_LOG="$WORK/smtp-sink.log"
RP_LOG="$WORK/openid-client-rp.log"
APACHE_DIR="$WORK/apache"
SINK_PID=""
RP_PID=""
APACHE_PID=""

# ------------------------------------------------------------------ cleanup of what we started
stop_apache() { # the setsid'd apache2 is its own process group: TERM the group, then wait
  [ -n "$APACHE_PID" ] || return 0
  kill -TERM -- "-$APACHE_PID" 2>/dev/null || kill -TERM "$APACHE_PID" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$APACHE_PID" 2>/dev/null || break; sleep 0.25; done
  kill -KILL -- "-$APACHE_PID" 2>/dev/null || true
  wait "$APACHE_PID" 2>/dev/null || true
  APACHE_PID=""
}
stop_helpers() { # after the server (lib/common.sh cleanup)
  stop_apache
  stop "${RP_PID:-}"
  stop "${SINK_PID:-}"
  log "artifacts (screenshots, report.md, report.json) kept in $ARTIFACTS"
}
failure_logs() { # after the end of the server log
  empty_server_log_note
  show_log "CLI log" "$WORK/cli.log" 10 || true
  show_log "openid-client RP log" "$RP_LOG" 10 || true
  show_log "Apache error log" "$APACHE_DIR/error.log" 15 || true
  show_log "SMTP sink log" "$SINK_LOG" 5 || true
}

# ------------------------------------------------------------------------- installing the peers
install_python() { # the venv in ./.venv (git ignores it), rebuilt only when requirements.txt or python3 changed
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
  "$venv/bin/python" -W ignore -c 'import xmlsec, onelogin.saml2.auth, saml2.server' >&2 \
    || die "the installed python3-saml/xmlsec/pysaml2 do not import"
  echo "$want" > "$stamp"
}
if [ "${CONFORMANCE_SKIP_INSTALL:-0}" != 1 ]; then
  npm_ci "$HERE" node "playwright-core (no browser download), axe-core, openid-client, oidc-provider, otpauth, smtp-server, mailparser"
  install_python
fi
PY="$HERE/.venv/bin/python"
[ -x "$PY" ] || die "no venv at $HERE/.venv (run without CONFORMANCE_SKIP_INSTALL)"

wait_ready() { # file pid label: until the helper printed {"ready":true…} (10 s)
  local i
  for i in $(seq 1 50); do
    grep -q '"ready":true' "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited early: $(tail -n 5 "${1%.json}.log" 2>/dev/null)"
    [ "$i" = 50 ] && die "$3 did not start within 10 s"
    sleep 0.2
  done
}

# ---------------------------------------------------------------------------- the SMTP server
log "starting the SMTP sink (smtp-server) on 127.0.0.1"
node "$HERE/smtp-sink.mjs" > "$WORK/smtp-sink.json" 2> "$SINK_LOG" &
SINK_PID=$!
wait_ready "$WORK/smtp-sink.json" "$SINK_PID" "the SMTP sink"
read -r SMTP_PORT SINK_HTTP_PORT < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["smtp_port"], d["http_port"])' "$WORK/smtp-sink.json")

# --------------------------------------------------------------------- Gatehouse and provisioning
gatehouse_env
RP_PORT=$(free_port)
APACHE_PORT=$(free_port)
export GATEHOUSE_MAIL__SMTP_URL="smtp://127.0.0.1:$SMTP_PORT"
export GATEHOUSE_MAIL__FROM="Gatehouse Invitations <invites@gatehouse.test>"
# Lowered for the account-lock check: two free failures, a 1 s delay after the third, the
# hour's lock at the fourth (per account; the per-address limits are ten times these).
export GATEHOUSE_THROTTLE__PASSWORD_FREE_FAILURES=2
export GATEHOUSE_THROTTLE__PASSWORD_LOCKOUT=4
# Every mailed code of the run comes from 127.0.0.1; the per-address limit is not under test here.
export GATEHOUSE_THROTTLE__PASSCODE_SENDS_PER_IP=500
# The partner IdPs of the federation journeys run on loopback; Gatehouse refuses private
# addresses for partner IdPs unless told this is such a setup (SSRF guard).
export GATEHOUSE_FEDERATION__ALLOW_PRIVATE_NETWORKS=true

# A unique slug, so that a shared database (GATEHOUSE_DATABASE_URL) never sees a clash.
SLUG="br-$(date +%s)-$RANDOM"
pass_through GATEHOUSE_DATABASE_URL GATEHOUSE_REDIS_URL GATEHOUSE_MASTER_KEY
redis_prefix "$SLUG:"

DOMAIN="$SLUG.contoso.test"
ORG="Contoso Browser"
RP_ORIGIN="http://127.0.0.1:$RP_PORT"
APACHE_ORIGIN="http://127.0.0.1:$APACHE_PORT"

log "provisioning tenant $SLUG with the CLI"
cli tenant tenant create --slug "$SLUG" --name "$ORG" --domain "$DOMAIN"
cli inviter app create --tenant "$SLUG" --name "Invitation robot" --grant client_credentials \
  --permission User.Invite.All --permission User.Read.All
cli rp app create --tenant "$SLUG" --name "Partner portal" --redirect-uri "$RP_ORIGIN/callback" \
  --post-logout-redirect-uri "$RP_ORIGIN/" --home-url "$RP_ORIGIN/"
# Its front-channel logout URI (with iss and sid): an RP-initiated logout of a session that used
# it answers Gatehouse's signed-out page, which loads that URI in an iframe, then continues.
RP_CLIENT_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$WORK/rp.json")
printf '{"web": {"logoutUrl": "%s/frontchannel-logout"}, "frontchannelLogoutSessionRequired": true}\n' "$RP_ORIGIN" > "$WORK/rp-frontchannel.patch.json"
cli rp-frontchannel app update --tenant "$SLUG" --app "$RP_CLIENT_ID" --json "$WORK/rp-frontchannel.patch.json"
cli apache app create --tenant "$SLUG" --name "Legacy intranet" \
  --redirect-uri "$APACHE_ORIGIN/protected/redirect_uri" \
  --post-logout-redirect-uri "$APACHE_ORIGIN/loggedout.html" --home-url "$APACHE_ORIGIN/protected/claims"

CONFIG="$WORK/config.json"
python3 - "$WORK" "$CONFIG" "$GATEHOUSE_PUBLIC_URL" "$SINK_HTTP_PORT" "$RP_PORT" "$APACHE_PORT" \
  "$GATEHOUSE_BIN" "$ARTIFACTS" "$CHROMIUM" "$ONLY" "$PY" <<'PY'
import json, sys
(work, out, public_url, sink_port, rp_port, apache_port, gatehouse_bin, artifacts, chromium,
 only, python) = sys.argv[1:]
load = lambda n: json.load(open(f"{work}/{n}.json"))
tenant, inviter, rp, apache = load("tenant"), load("inviter"), load("rp"), load("apache")
slug = tenant["slug"]
assert tenant["issuer"] == f"{public_url}/{slug}", tenant["issuer"]
rp_origin, apache_origin = f"http://127.0.0.1:{rp_port}", f"http://127.0.0.1:{apache_port}"
fc = load("rp-frontchannel")
assert fc["web"]["logoutUrl"] == f"{rp_origin}/frontchannel-logout" and fc["frontchannelLogoutSessionRequired"] is True, fc
config = {
    "public_url": public_url,
    "issuer": tenant["issuer"],
    "tenant": {"id": tenant["id"], "slug": slug, "name": tenant["name"], "domain": tenant["domains"][0]},
    "inviter": {"client_id": inviter["client_id"], "client_secret": inviter["client_secret"], "name": "Invitation robot"},
    "rp": {"name": "Partner portal", "issuer": tenant["issuer"], "port": int(rp_port), "origin": rp_origin,
           "client_id": rp["client_id"], "client_secret": rp["client_secret"],
           "redirect_uri": f"{rp_origin}/callback", "post_logout_redirect_uri": f"{rp_origin}/",
           "frontchannel_logout_uri": f"{rp_origin}/frontchannel-logout"},
    "apache": {"name": "Legacy intranet", "port": int(apache_port), "origin": apache_origin,
               "client_id": apache["client_id"], "client_secret": apache["client_secret"],
               "protected": f"{apache_origin}/protected/claims",
               "logged_out": f"{apache_origin}/loggedout.html"},
    "sink": {"http": f"http://127.0.0.1:{sink_port}"},
    "cli": {"bin": gatehouse_bin, "cwd": work, "log": f"{work}/cli.log"},
    "throttle": {"password_free_failures": 2, "password_lockout": 4},
    "artifacts": artifacts,
    "chromium": chromium,
    "python": python,
    "only": [n for n in only.split(",") if n],
}
json.dump(config, open(out, "w"), indent=2)
PY
chmod 600 "$CONFIG"

log "starting $GATEHOUSE_BIN on $GATEHOUSE_LISTEN (mail to smtp://127.0.0.1:$SMTP_PORT)"
start_gatehouse

# ---------------------------------------------------------------------- the relying parties
log "starting the openid-client RP on $RP_ORIGIN"
node "$HERE/rp/openid-client-rp.mjs" "$CONFIG" > "$WORK/openid-client-rp.json" 2> "$RP_LOG" &
RP_PID=$!
wait_ready "$WORK/openid-client-rp.json" "$RP_PID" "the openid-client RP"

log "starting Apache httpd + mod_auth_openidc on $APACHE_ORIGIN (as www-data, setsid)"
mkdir -p "$APACHE_DIR/htdocs" "$APACHE_DIR/cgi" "$APACHE_DIR/run"
read -r APACHE_CLIENT_ID APACHE_CLIENT_SECRET < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["client_id"], d["client_secret"])' "$WORK/apache.json")
PASSPHRASE=$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')
sed -e "s|@APACHE_DIR@|$APACHE_DIR|g" -e "s|@APACHE_PORT@|$APACHE_PORT|g" \
  -e "s|@ISSUER@|$GATEHOUSE_PUBLIC_URL/$SLUG|g" -e "s|@CLIENT_ID@|$APACHE_CLIENT_ID|g" \
  -e "s|@CLIENT_SECRET@|$APACHE_CLIENT_SECRET|g" -e "s|@PASSPHRASE@|$PASSPHRASE|g" \
  -e "s|@OIDC_LOG_LEVEL@|${APACHE_OIDC_LOG_LEVEL:-warn}|g" \
  "$HERE/apache/httpd.conf.in" > "$APACHE_DIR/httpd.conf"
install -m 755 "$HERE/apache/claims.cgi" "$APACHE_DIR/cgi/claims.cgi"
install -m 644 "$HERE/apache/loggedout.html" "$APACHE_DIR/htdocs/loggedout.html"
chmod 700 "$APACHE_DIR/run"
chmod 600 "$APACHE_DIR/httpd.conf" # read by the root parent only (the client secret)
chmod 755 "$APACHE_DIR" "$APACHE_DIR/htdocs" "$APACHE_DIR/cgi"
apache2 -t -f "$APACHE_DIR/httpd.conf" 2> "$APACHE_DIR/configtest.log" ||
  die "apache2 -t refused the configuration: $(cat "$APACHE_DIR/configtest.log")"
setsid apache2 -f "$APACHE_DIR/httpd.conf" -DFOREGROUND > "$APACHE_DIR/stdout.log" 2>&1 &
APACHE_PID=$!
for i in $(seq 1 50); do
  curl -fsS -o /dev/null "$APACHE_ORIGIN/loggedout.html" 2>/dev/null && break
  kill -0 "$APACHE_PID" 2>/dev/null || die "apache2 exited early: $(tail -n 5 "$APACHE_DIR/error.log" 2>/dev/null)"
  [ "$i" = 50 ] && die "apache2 did not answer within 10 s"
  sleep 0.2
done

# ------------------------------------------------------------------------------- the journeys
log "running the journeys in Chromium (harness/suite.mjs; artifacts in $ARTIFACTS)"
run_journey "$HERE/harness/suite.mjs" "$CONFIG"
if [ -z "$JOURNEY_LAST" ]; then # the suite died or was stopped before its summary: count what it printed, plus one
  PASSED=$(grep -c '^  ok ' "$WORK/journey.out" || true)
  FAILED=$(( $(grep -c '^  FAIL ' "$WORK/journey.out" || true) + 1 ))
  [ "$JOURNEY_RC" -ge 124 ] && log "the journeys were stopped after $TIMEOUT s (CONFORMANCE_TIMEOUT)"
fi
echo
echo "artifacts (kept): $ARTIFACTS (report.md, report.json, screenshots/)"
journey_summary "Browser conformance (Chromium $("$CHROMIUM" --version 2>/dev/null | awk '{print $2}'))"
