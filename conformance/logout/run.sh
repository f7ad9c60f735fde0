#!/usr/bin/env bash
# Sign-out reaches every app, at once, on every node: two Gatehouse nodes on one Postgres and
# one Redis, a relying party in Python that validates back-channel logout tokens with PyJWT
# against Gatehouse's JWKS, a guest (redeemed at a home tenant) signed in through node A with a
# refresh token, then disabled through Graph on node B; the refresh token, node A's browser session and the RP's session
# must all end at once. See conformance/logout/README.md.
#
# Usage: conformance/logout/run.sh [--help]
# Needs: Postgres (trust auth) and Redis; python3 (a venv with requirements.txt), psql.
# Env:   GATEHOUSE_BIN           binary to test (default <repo>/target/release/gatehouse)
#        GATEHOUSE_DATABASE_URL  a Postgres database for the run (.ci/run gives one); without it
#                                one is created at LOGOUT_PG_URL and dropped at the end
#        LOGOUT_PG_URL           default postgres://postgres@127.0.0.1:5432/postgres
#        GATEHOUSE_REDIS_URL     default redis://127.0.0.1:6379; GATEHOUSE_REDIS_PREFIX default
#                                a fresh one
#        CONFORMANCE_KEEP=1      keep the temp dir (node logs, CLI log)
#        CONFORMANCE_SKIP_INSTALL=1  do not create the venv (use what is installed)
#        CONFORMANCE_TIMEOUT     seconds allowed for the suite (default 120)
# Exit:  0 when every check passed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNNER=logout
FINAL_PRINTED=0 # die prints "logout-conformance: 0 passed, 1 failed"
# shellcheck source=../lib/common.sh
. "$ROOT/conformance/lib/common.sh"
no_arguments "$@"
require_tools --hint "apt-get install postgresql-client" python3 psql timeout
make_workdir

OWN_DB=""
DB_URL=${GATEHOUSE_DATABASE_URL:-}
case "$DB_URL" in
  postgres*) ;;
  *)
    PG_URL=${LOGOUT_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
    OWN_DB="gh_logout_$$_$(date +%s)"
    psql -q "$PG_URL" -c "CREATE DATABASE \"$OWN_DB\"" >/dev/null || die "cannot create a database at $PG_URL"
    DB_URL="${PG_URL%/*}/$OWN_DB"
    ;;
esac

stop_helpers() {
  local pid
  if [ -f "$WORK/pids" ]; then
    while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done < "$WORK/pids"
  fi
  if [ -n "$OWN_DB" ]; then
    psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS \"$OWN_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}

failure_logs() {
  local f
  for f in "$WORK"/node-*.log "$WORK/cli.log"; do
    [ -e "$f" ] && show_log "last lines of $(basename "$f")" "$f" 25
  done
  return 0
}

VENV="$HERE/.venv"
install_python() {
  local stamp want
  stamp="$VENV/.gatehouse-requirements.sha256"
  want=$( (cat "$HERE/requirements.txt"; python3 --version) | sha256sum | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "venv up to date"
    return
  fi
  log "python venv + pip install -r requirements.txt"
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2 || die "python3 -m venv failed"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" >&2 \
    || die "pip install failed"
  echo "$want" > "$stamp"
}
[ "${CONFORMANCE_SKIP_INSTALL:-0}" = 1 ] || install_python

log "two nodes of $GATEHOUSE_BIN on $(printf '%s' "$DB_URL" | sed 's#//[^@]*@#//#') (temp dir $WORK)"
RC=0
timeout --kill-after=10 "${CONFORMANCE_TIMEOUT:-120}" "$VENV/bin/python" -u "$HERE/suite.py" \
  --work "$WORK" --bin "$GATEHOUSE_BIN" --db-url "$DB_URL" \
  --redis-url "${GATEHOUSE_REDIS_URL:-redis://127.0.0.1:6379}" \
  --redis-prefix "${GATEHOUSE_REDIS_PREFIX:-logout-$$-$(date +%s):}" | tee "$WORK/suite.out" || RC=$?
if ! grep -qE '^logout-conformance: [0-9]+ passed, 0 failed$' "$WORK/suite.out"; then
  grep -qE '^logout-conformance: ' "$WORK/suite.out" || echo "logout-conformance: 0 passed, 1 failed"
  [ "$RC" -ne 0 ] || RC=1
fi
FINAL_PRINTED=1
exit "$RC"
