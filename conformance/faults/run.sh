#!/usr/bin/env bash
# Fault drills: a two-node Gatehouse cluster on Postgres and a private redis-server, behind
# HAProxy, is put through kill -9, Redis and Postgres outages (cut and black-hole), key
# rotations under load, cross-node code and refresh races, SIGTERM drain, a full SQLite disk,
# slow clients and connection caps, a pool of two connections, and a bounded fuzz run. See
# conformance/faults/README.md.
#
# Usage: conformance/faults/run.sh [--only DRILL[,DRILL...]] [--help]
#        drills: kill-node redis postgres key-rotation races drain sqlite-disk-full
#                slow-clients small-pool fuzz
# Needs: root (the SQLite drill mounts a tmpfs), Postgres on 127.0.0.1:5432 (trust auth; the
#        drills create and drop a database of their own), redis-server and redis-cli (a
#        private server on a free port; the machine's Redis is not touched), haproxy, psql,
#        python3 (a venv with requirements.txt), curl.
# Env:   GATEHOUSE_BIN     binary to test (default <repo>/target/release/gatehouse; relative
#                          paths are taken from the repo root)
#        FAULTS_PG_URL     the Postgres to create the drills' database in (default
#                          postgres://postgres@127.0.0.1:5432/postgres; GATEHOUSE_TEST_DATABASE_URL
#                          or a postgres GATEHOUSE_DATABASE_URL is used when set)
#        GATEHOUSE_LOG     the nodes' log level (default warn)
#        FAULTS_FUZZ_SECONDS  schemathesis's time budget (default 60)
#        CONFORMANCE_KEEP=1  keep the temp dir (node logs, HAProxy config, schemathesis output)
#        CONFORMANCE_SKIP_INSTALL=1  do not create the venv (use what is installed)
#        CONFORMANCE_TIMEOUT  seconds allowed for the whole run (default 570)
# Exit:  0 when every drill passed; non-zero on any failure (the node logs' tails are printed).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNNER=faults
ONLY=""
# shellcheck source=../lib/common.sh
. "$ROOT/conformance/lib/common.sh"

while [ $# -gt 0 ]; do
  case "$1" in
    --only) ONLY=${2:?--only needs drill names}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

TIMEOUT=${CONFORMANCE_TIMEOUT:-570}
FINAL_PRINTED=0 # die still prints "faults-conformance: 0 passed, 1 failed"

require_tools --hint "apt-get install haproxy redis-server postgresql-client" \
  python3 psql redis-server redis-cli haproxy curl timeout mount
[ "$(id -u)" = 0 ] || die "the SQLite disk-full drill mounts a tmpfs: run as root"
make_workdir

PG_URL=${FAULTS_PG_URL:-${GATEHOUSE_TEST_DATABASE_URL:-}}
if [ -z "$PG_URL" ]; then
  case "${GATEHOUSE_DATABASE_URL:-}" in postgres*) PG_URL=$GATEHOUSE_DATABASE_URL ;; esac
fi
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
psql -q "$PG_URL" -c 'select 1' >/dev/null 2>&1 || die "Postgres is not reachable at $PG_URL"

stop_helpers() { # what drills.py started, should it have been stopped before its own cleanup
  local pid
  if [ -f "$WORK/pids" ]; then
    while read -r pid; do
      kill -CONT "$pid" 2>/dev/null || true
      kill -KILL "$pid" 2>/dev/null || true
    done < "$WORK/pids"
  fi
  if mountpoint -q "$WORK/tmpfs" 2>/dev/null; then umount -l "$WORK/tmpfs" || true; fi
  if [ -f "$WORK/database" ]; then
    psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS \"$(cat "$WORK/database")\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}

failure_logs() { # after the cleanup's own lines (lib/common.sh)
  local f
  for f in "$WORK"/node-*.log "$WORK/haproxy.log"; do
    [ -e "$f" ] && show_log "last lines of $(basename "$f")" "$f" 25
  done
  show_log "CLI log" "$WORK/cli.log" 10 || true
}

# ------------------------------------------------------------------------- installing the drills
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

# ------------------------------------------------------------------------------- the drills
log "running the drills against $GATEHOUSE_BIN (temp dir $WORK)"
RC=0
timeout --kill-after=15 "$TIMEOUT" "$VENV/bin/python" -u "$HERE/drills.py" --work "$WORK" --bin "$GATEHOUSE_BIN" \
  --pg-url "$PG_URL" --only "$ONLY" --fuzz-seconds "${FAULTS_FUZZ_SECONDS:-60}" | tee "$WORK/drills.out" || RC=$?
if ! grep -qE '^faults-conformance: [0-9]+ passed, [0-9]+ failed$' "$WORK/drills.out"; then
  [ "$RC" -ge 124 ] && log "the drills were stopped after $TIMEOUT s (CONFORMANCE_TIMEOUT)"
  echo "faults-conformance: 0 passed, 1 failed"
  RC=1
fi
FINAL_PRINTED=1
exit "$RC"
