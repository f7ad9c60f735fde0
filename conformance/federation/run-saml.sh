#!/usr/bin/env bash
# Guest federation conformance over SAML 2.0: guests whose home identity provider is a real
# third-party SAML IdP (pysaml2, one per partner organisation, on loopback ports, signing with
# RSA-SHA256 / SHA-256) are invited through the Graph-shaped API, redeem by signing in at home
# (Gatehouse is the home IdP's SP), and sign in through home-realm discovery to an app that is a
# python3-saml SP of Gatehouse's own SAML IdP (strict mode, rejectDeprecatedAlgorithm). The
# address rule, replay, Responses Gatehouse must refuse, MFA trust under a conditional-access
# policy and an IdP-side refusal are checked. See conformance/federation/README.md.
#
# Usage: conformance/federation/run-saml.sh [--help]
# Env:   GATEHOUSE_BIN     binary to test (default <repo>/target/release/gatehouse; relative
#                          paths are taken from the repo root)
#        GATEHOUSE_DATABASE_URL, GATEHOUSE_REDIS_URL, GATEHOUSE_REDIS_PREFIX, GATEHOUSE_MASTER_KEY
#                          passed through when set (default: SQLite and the in-process store in a
#                          fresh temp dir). With Redis and no prefix, a unique prefix is used.
#        GATEHOUSE_LOG     server log level (default warn)
#        CONFORMANCE_KEEP=1  keep the temp dir (server log, outbox, config) even on success
#        CONFORMANCE_SKIP_INSTALL=1  do not create/update the venv (use what is installed)
#        CONFORMANCE_TIMEOUT  seconds allowed for the journey script (default 120)
# Exit:  0 when every check passed; non-zero on any failure (the server log tail is printed).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY_DIR="$HERE/saml"
RUNNER=federation-saml
# shellcheck source=../lib/common.sh
. "$ROOT/conformance/lib/common.sh"
no_arguments "$@"

TIMEOUT=${CONFORMANCE_TIMEOUT:-120}
FINAL_PRINTED=0 # die still prints "federation-saml-conformance: 0 passed, 1 failed"

require_tools --hint "xmlsec1: Debian package xmlsec1; python3 -m venv: python3-venv" python3 curl openssl xmlsec1 timeout
make_workdir
RUN_DIR="$WORK" # the CLI and the server run in the temp dir

failure_logs() { # after the end of the server log (lib/common.sh cleanup)
  empty_server_log_note
  show_log "CLI log" "$WORK/cli.log" 10 || true
}

# ------------------------------------------------------------------------- installing the peers
install_python() { # the venv in saml/.venv, rebuilt only when requirements.txt or python3 changed
  local venv="$PY_DIR/.venv" stamp want
  stamp="$venv/.gatehouse-requirements.sha256"
  want=$( (cat "$PY_DIR/requirements.txt"; python3 --version) | sha256sum | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "python: venv up to date"
    return
  fi
  log "python: venv + pip install -r saml/requirements.txt (pysaml2, python3-saml)"
  rm -rf "$venv"
  python3 -m venv "$venv" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$PY_DIR/requirements.txt" >&2 \
    || die "pip install failed"
  # python3-saml refuses to work when lxml and xmlsec disagree on libxml2: fail here, not later.
  "$venv/bin/python" -W ignore -c 'import xmlsec, onelogin.saml2.auth, saml2.server' >&2 \
    || die "the installed python3-saml/xmlsec/pysaml2 do not import"
  echo "$want" > "$stamp"
}
[ "${CONFORMANCE_SKIP_INSTALL:-0}" = 1 ] || install_python
PY="$PY_DIR/.venv/bin/python"
[ -x "$PY" ] || die "no venv at $PY_DIR/.venv (run without CONFORMANCE_SKIP_INSTALL)"

# --------------------------------------------------------------------- Gatehouse and provisioning
gatehouse_env
APP_PORT=$(free_port)
CONTOSO_PORT=$(free_port)
NORTHWIND_PORT=$(free_port)
DEAD_PORT=$(free_port) # nothing listens there: a partner whose metadata does not answer
# No SMTP server: the invitation mail is written as .eml files to $GATEHOUSE_DATA_DIR/outbox.
unset GATEHOUSE_MAIL__SMTP_URL
# The partners' IdPs run on loopback here; Gatehouse refuses private addresses for partner
# IdPs unless told this is such a setup (SSRF guard).
export GATEHOUSE_FEDERATION__ALLOW_PRIVATE_NETWORKS=true

# A unique slug, so that a shared database (GATEHOUSE_DATABASE_URL) never sees a clash.
SLUG="fsaml-$(date +%s)-$RANDOM"
pass_through GATEHOUSE_DATABASE_URL GATEHOUSE_REDIS_URL GATEHOUSE_MASTER_KEY
redis_prefix "$SLUG:"

DOMAIN="$SLUG.fabrikam.test"
APP_ORIGIN="http://127.0.0.1:$APP_PORT"
CONTOSO_DOMAIN="contoso-$SLUG.test"
NORTHWIND_DOMAIN="northwind-$SLUG.test"
# Northwind's AuthnContextClassRef for MFA, registered with --mfa-value.
MFA_VALUE="urn:northwind:ac:classes:mfa-otp"

# The app's SP key pair (python3-saml signs its AuthnRequests).
mkdir -p "$WORK/app"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=python3-saml app (conformance)" \
  -keyout "$WORK/app/app.key" -out "$WORK/app/app.crt" 2>/dev/null || die "openssl could not make the app's key"

log "provisioning tenant $SLUG with the CLI"
cli tenant tenant create --slug "$SLUG" --name "Fabrikam Federation (SAML)" --domain "$DOMAIN"
cli inviter app create --tenant "$SLUG" --name "Invitation Robot" --grant client_credentials \
  --permission User.Invite.All --permission User.Read.All --permission IdentityProvider.ReadWrite.All
cli app app create --tenant "$SLUG" --name "Supplier portal (python3-saml)" \
  --saml-entity-id "$APP_ORIGIN/saml/metadata" --saml-acs-url "$APP_ORIGIN/saml/acs" \
  --saml-certificate "$WORK/app/app.crt" --saml-requests-signed --saml-sign-response
# The partners are registered by the journey, once their IdPs listen (registration fetches
# their metadata), and the IdPs start once Gatehouse's SP metadata answers.

CONFIG="$WORK/config.json"
python3 - "$WORK" "$CONFIG" "$GATEHOUSE_PUBLIC_URL" "$APP_PORT" "$GATEHOUSE_BIN" "$GATEHOUSE_DATA_DIR" \
  "$CONTOSO_PORT" "$CONTOSO_DOMAIN" "$NORTHWIND_PORT" "$NORTHWIND_DOMAIN" "$DEAD_PORT" "$MFA_VALUE" <<'PY'
import json, secrets, sys
(work, out, public_url, app_port, gatehouse_bin, data_dir, c_port, c_domain, n_port, n_domain,
 dead_port, mfa_value) = sys.argv[1:]
load = lambda n: json.load(open(f"{work}/{n}.json"))
tenant, inviter, app = load("tenant"), load("inviter"), load("app")
slug = tenant["slug"]
assert tenant["issuer"] == f"{public_url}/{slug}", tenant["issuer"]
assert "IdentityProvider.ReadWrite.All" in inviter["permissions"], inviter
sp = app["saml"]
app_origin = f"http://127.0.0.1:{app_port}"
assert sp["entity_id"] == f"{app_origin}/saml/metadata", sp
assert [a["url"] for a in sp["acs"]] == [f"{app_origin}/saml/acs"], sp
def guest(username, idp, domain, given, surname):
    email = f"{username}@{domain}"
    return {"username": username, "password": secrets.token_urlsafe(12), "idp": idp, "email": email, "mail": email,
            "name": f"{given} {surname}", "given": given, "surname": surname, "enabled": True}
config = {
    "public_url": public_url,
    "issuer": tenant["issuer"],
    "tenant": {"id": tenant["id"], "slug": slug, "name": tenant["name"]},
    "idp_metadata_url": f"{tenant['issuer']}/saml/metadata",
    "sso_url": f"{tenant['issuer']}/saml/sso",
    "app": {"client_id": app["client_id"], "port": int(app_port), "entity_id": sp["entity_id"],
            "acs": sp["acs"][0]["url"], "cert_file": f"{work}/app/app.crt", "key_file": f"{work}/app/app.key"},
    "inviter": {"client_id": inviter["client_id"], "client_secret": inviter["client_secret"]},
    "idps": {
        "contoso": {"port": int(c_port), "domain": c_domain},
        "northwind": {"port": int(n_port), "domain": n_domain},
        "dead_port": int(dead_port),
    },
    "mfa_value": mfa_value,
    "guests": {
        "alice": guest("alice", "contoso", c_domain, "Alice", "Contoso"),
        "bob": guest("bob", "contoso", c_domain, "Bob", "Contoso"),
        "noor": guest("noor", "northwind", n_domain, "Noor", "Northwind"),
    },
    "cli": {"bin": gatehouse_bin, "cwd": work, "log": f"{work}/cli.log"},
    "outbox_dir": f"{data_dir}/outbox",
    "work": work,
}
json.dump(config, open(out, "w"), indent=2)
PY

log "starting $GATEHOUSE_BIN on $GATEHOUSE_LISTEN (mail to $GATEHOUSE_DATA_DIR/outbox)"
start_gatehouse

# ------------------------------------------------------------------------------- the journey
log "running the journey (saml/journey.py; pysaml2 IdPs on 127.0.0.1:$CONTOSO_PORT and :$NORTHWIND_PORT, python3-saml app on :$APP_PORT)"
# As run_journey in lib/common.sh, with Python: JOURNEY_RC, JOURNEY_TOOK, JOURNEY_LAST, PASSED, FAILED.
start=$SECONDS
JOURNEY_RC=0
timeout --kill-after=10 "$TIMEOUT" "$PY" -W ignore "$PY_DIR/journey.py" "$CONFIG" 2>&1 | tee "$WORK/journey.out" \
  || JOURNEY_RC=$?
JOURNEY_TOOK=$((SECONDS - start))
JOURNEY_LAST=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/journey.out" | tail -n1 || true)
PASSED=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"${JOURNEY_LAST:-0 passed, 0 failed}")
FAILED=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"${JOURNEY_LAST:-0 passed, 0 failed}")
if [ -z "$JOURNEY_LAST" ]; then # the journey died or was stopped before its summary: count what it printed, plus one
  PASSED=$(grep -c '^  ok ' "$WORK/journey.out" || true)
  FAILED=$(( $(grep -c '^  FAIL ' "$WORK/journey.out" || true) + 1 ))
  [ "$JOURNEY_RC" -ge 124 ] && log "the journey was stopped after $TIMEOUT s (CONFORMANCE_TIMEOUT)"
fi
journey_summary "Guest federation conformance (SAML)"
