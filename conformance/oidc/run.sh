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

RUNNER=oidc
# shellcheck source=../lib/common.sh
. "$ROOT/conformance/lib/common.sh"

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

TIMEOUT=${CONFORMANCE_TIMEOUT:-300}

require_tools node npm python3 curl
make_workdir # and the cleanup trap (lib/common.sh)

# ------------------------------------------------------------------------- installing the peers
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

if [ "${CONFORMANCE_SKIP_INSTALL:-0}" != 1 ]; then
  want_suite openid-client && npm_ci "$HERE/openid-client" openid-client
  want_suite authlib && install_python
fi

# --------------------------------------------------------------------- Gatehouse and provisioning
gatehouse_env
# GATEHOUSE_DATABASE_URL / GATEHOUSE_REDIS_URL stay as the caller set them (exported or not).
pass_through GATEHOUSE_DATABASE_URL GATEHOUSE_REDIS_URL GATEHOUSE_MASTER_KEY

# A unique slug, so that a shared database (GATEHOUSE_DATABASE_URL) never sees a clash.
SLUG="oc-$(date +%s)-$RANDOM"
EMAIL="alice@$SLUG.example"
NAME="Alice Conformance"
PASSWORD="Conformance-$RANDOM-$RANDOM-pass!"
CB="http://127.0.0.1/oidc-conformance"

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
# A confidential app with a registered public key and no shared secret: openid-client
# authenticates with private_key_jwt (RFC 7523) signed by the private half, made here.
node -e '
const { generateKeyPairSync } = require("node:crypto");
const fs = require("node:fs");
const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const kid = "openid-client-pkjwt-1";
fs.writeFileSync(process.argv[1], JSON.stringify({ ...privateKey.export({ format: "jwk" }), kid }));
fs.writeFileSync(process.argv[2], JSON.stringify({ keys: [{ ...publicKey.export({ format: "jwk" }), kid, use: "sig" }] }));
' "$WORK/pkjwt-private.json" "$WORK/pkjwt-jwks.json"
cli pkjwt app create --tenant "$SLUG" --name "openid-client private_key_jwt" \
  --redirect-uri "$CB/pkjwt/callback" --grant client_credentials --jwks-file "$WORK/pkjwt-jwks.json"

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
    "apps": {n: app(n) for n in ("web", "service", "es256", "public", "authlib", "pkjwt")},
    "pkjwt_private_jwk": load("pkjwt-private"),
}
assert config["issuer"] == f"{public_url}/{tenant['slug']}", config["issuer"]
json.dump(config, open(out, "w"), indent=2)
PY

log "starting $GATEHOUSE_BIN on $GATEHOUSE_LISTEN"
start_gatehouse

# ---------------------------------------------------------------------------------- the peers
run_suite openid-client node "$HERE/openid-client/rp.mjs" "$CONFIG"
run_suite authlib "$HERE/authlib/.venv/bin/python" "$HERE/authlib/rp.py" "$CONFIG"

suites_summary "OIDC conformance" "no suite ran (unknown --only $ONLY?)"
