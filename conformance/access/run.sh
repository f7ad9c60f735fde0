#!/usr/bin/env bash
# Selective-access conformance: an openid-client 6 app and a python3-saml service provider
# receive `roles` and `groups` and authorise on them (403 without the Approver role, 200 with
# it); removing the member from the group changes the next token and the next assertion.
# Roles and claims are set with the Graph PATCH /applications/{id}, the group and its member
# with POST /groups and members/$ref, the role with POST /groups/{id}/appRoleAssignments.
# See conformance/access/README.md.
#
# Usage: conformance/access/run.sh [--help]
# Env:   GATEHOUSE_BIN     binary to test (default <repo>/target/release/gatehouse)
#        GATEHOUSE_DATABASE_URL, GATEHOUSE_REDIS_URL, GATEHOUSE_REDIS_PREFIX, GATEHOUSE_MASTER_KEY
#                          passed through when set (default: SQLite and the in-process store)
#        CONFORMANCE_KEEP=1  keep the temp dir even on success
#        CONFORMANCE_SKIP_INSTALL=1  do not run npm ci / pip install
#        CONFORMANCE_TIMEOUT  seconds allowed for each peer (default 150)
# Exit:  0 when every check passed; non-zero on any failure (the server log tail is printed).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNNER=access
# shellcheck source=../lib/common.sh
. "$ROOT/conformance/lib/common.sh"
no_arguments "$@"

TIMEOUT=${CONFORMANCE_TIMEOUT:-150}
FINAL_PRINTED=0

require_tools node npm python3 curl timeout
make_workdir
RUN_DIR="$WORK"

VENV="$HERE/.venv"
if [ "${CONFORMANCE_SKIP_INSTALL:-0}" != 1 ]; then
  npm_ci "$HERE/node" node "openid-client"
  if [ ! -x "$VENV/bin/python" ]; then
    log "python: venv + pip install -r ../saml/requirements.txt (python3-saml)"
    python3 -m venv "$VENV" >&2 || die "python3 -m venv failed"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/conformance/saml/requirements.txt" >&2 \
      || die "pip install failed"
  fi
fi
[ -x "$VENV/bin/python" ] || die "no venv at $VENV (run without CONFORMANCE_SKIP_INSTALL)"

gatehouse_env
RP_PORT=$(free_port)
SLUG="access-$(date +%s)-$RANDOM"
pass_through GATEHOUSE_DATABASE_URL GATEHOUSE_REDIS_URL GATEHOUSE_MASTER_KEY
redis_prefix "$SLUG:"
DOMAIN="$SLUG.contoso.test"
EMAIL="ann@$DOMAIN"
PASSWORD="Access-conformance-$RANDOM-$RANDOM!"
RP="http://127.0.0.1:$RP_PORT"
SP_ENTITY="http://127.0.0.1:$RP_PORT/saml/metadata"
SP_ACS="http://127.0.0.1:$RP_PORT/saml/acs"

log "provisioning tenant $SLUG with the CLI"
cli tenant tenant create --slug "$SLUG" --name "Contoso access" --domain "$DOMAIN"
printf '%s\n' "$PASSWORD" | cli user user create --tenant "$SLUG" --email "$EMAIL" --name "Ann Approver" --password-stdin
cli admin app create --tenant "$SLUG" --name "Directory admin" --grant client_credentials \
  --permission Application.ReadWrite.All --permission AppRoleAssignment.ReadWrite.All \
  --permission Group.ReadWrite.All --permission GroupMember.ReadWrite.All --permission User.Read.All
cli rp app create --tenant "$SLUG" --name "Expenses" --redirect-uri "$RP/callback"
cli sp app create --tenant "$SLUG" --name "Expenses (SAML)" --saml-entity-id "$SP_ENTITY" --saml-acs-url "$SP_ACS"

CONFIG="$WORK/config.json"
python3 - "$WORK" "$CONFIG" "$GATEHOUSE_PUBLIC_URL" "$RP_PORT" "$EMAIL" "$PASSWORD" "$SP_ENTITY" "$SP_ACS" <<'PY'
import json, sys
work, out, public_url, rp_port, email, password, sp_entity, sp_acs = sys.argv[1:]
load = lambda n: json.load(open(f"{work}/{n}.json"))
tenant, user, admin, rp, sp = (load(n) for n in ("tenant", "user", "admin", "rp", "sp"))
config = {
    "public_url": public_url,
    "issuer": tenant["issuer"],
    "metadata_url": f"{tenant['issuer']}/saml/metadata",
    "user": {"id": user["id"], "email": email, "password": password},
    "admin": {"client_id": admin["client_id"], "client_secret": admin["client_secret"]},
    "rp": {"id": rp["id"], "client_id": rp["client_id"], "client_secret": rp["client_secret"],
           "origin": f"http://127.0.0.1:{rp_port}", "port": int(rp_port),
           "redirect_uri": f"http://127.0.0.1:{rp_port}/callback"},
    "sp": {"id": sp["id"], "entity_id": sp_entity, "acs": sp_acs},
    "state_file": f"{work}/state.json",
}
json.dump(config, open(out, "w"), indent=2)
PY

log "starting $GATEHOUSE_BIN on $GATEHOUSE_LISTEN"
start_gatehouse

log "OIDC: openid-client app (node/journey.mjs)"
run_journey "$HERE/node/journey.mjs" "$CONFIG" || true
OIDC_PASSED=$PASSED OIDC_FAILED=$FAILED
[ "$JOURNEY_RC" -ne 0 ] && [ "$OIDC_FAILED" -eq 0 ] && OIDC_FAILED=1

log "SAML: python3-saml service provider (python/sp.py)"
SAML_RC=0
timeout --kill-after=10 "$TIMEOUT" "$VENV/bin/python" "$HERE/python/sp.py" "$CONFIG" \
  | tee "$WORK/saml.out" || SAML_RC=$?
SAML_LAST=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/saml.out" | tail -n1 || echo "0 passed, 1 failed")
PASSED=$((OIDC_PASSED + $(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$SAML_LAST")))
FAILED=$((OIDC_FAILED + $(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$SAML_LAST")))
[ "$SAML_RC" -ne 0 ] && [ "$FAILED" -eq 0 ] && FAILED=1
JOURNEY_RC=0
[ "$FAILED" -eq 0 ] || JOURNEY_RC=1
journey_summary "Selective-access conformance (openid-client, python3-saml)"
