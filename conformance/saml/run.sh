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

RUNNER=saml
# shellcheck source=../lib/common.sh
. "$ROOT/conformance/lib/common.sh"

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

TIMEOUT=${CONFORMANCE_TIMEOUT:-300}

require_tools --hint "xmlsec1: Debian package xmlsec1" node npm python3 curl openssl xmlsec1 timeout
make_workdir # and the cleanup trap (lib/common.sh)

# ------------------------------------------------------------------------- installing the peers
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
  want_suite node-saml && npm_ci --stamp-node-version "$HERE/node-saml" node-saml
  install_python  # always: provisioning uses pysaml2 to write its SP metadata
fi
PY="$HERE/.venv/bin/python"
[ -x "$PY" ] || die "no venv at $HERE/.venv (run without CONFORMANCE_SKIP_INSTALL)"

# --------------------------------------------------------------------- Gatehouse and provisioning
gatehouse_env
mkdir -p "$WORK/sp"
# Database, Redis and master key stay as the caller set them (exported or not).
pass_through GATEHOUSE_DATABASE_URL GATEHOUSE_REDIS_URL GATEHOUSE_REDIS_PREFIX GATEHOUSE_MASTER_KEY

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
start_gatehouse

# ---------------------------------------------------------------------------------- the peers
suite_failed() { # name rc: after a failed suite (lib/common.sh run_suite), say if it ran out of time
  if [ "$2" -eq 124 ]; then log "$1 timed out after ${TIMEOUT}s"; fi
}

run_suite python3-saml "$PY" "$HERE/python/python3_saml_sp.py" "$CONFIG"
run_suite pysaml2 "$PY" "$HERE/python/pysaml2_sp.py" "$CONFIG"
run_suite node-saml node "$HERE/node-saml/sp.mjs" "$CONFIG"
run_suite xmlsec1 "$PY" "$HERE/python/xmlsec1_oracle.py" "$CONFIG"

suites_summary "SAML conformance" "no suite ran"
