# shellcheck shell=bash
# The shell plumbing of the conformance runners (conformance/{oidc,saml,invite,mfa}/run.sh).
# Sourced, never run: each run.sh sets RUNNER (oidc, saml, invite or mfa) and ROOT (the repo
# root), then sources this file under `set -euo pipefail`. Sourcing only defines things,
# resolves GATEHOUSE_BIN and zeroes the tally; every step is a function the runner calls in its
# own order:
#
#   usage, no_arguments "$@"   --help prints the runner's header comment
#   require_tools [--hint TEXT] TOOL...  the Gatehouse binary and the tools must be there
#   make_workdir          fresh temp dir WORK, SERVER_LOG, SERVER_PID; the EXIT/INT/TERM traps
#   npm_ci [--stamp-node-version] DIR LABEL [NOTE]   npm ci, only when the lock file changed
#   gatehouse_env         PORT, GATEHOUSE_LISTEN/PUBLIC_URL/DATA_DIR/KEYS_DIR/LOG for `serve`
#   pass_through VAR...   export the caller's database / Redis / master-key settings
#   cli NAME ARG...       one CLI command, its JSON kept as $WORK/NAME.json
#   start_gatehouse       `gatehouse serve` in the background as SERVER_PID, up on /healthz
#   run_journey / journey_summary TITLE      (invite, mfa) one Node journey, its counts
#   want_suite / run_suite / suites_summary  (oidc, saml) the suites --only selects
#   The summaries go to stdout, ending with "RUNNER-conformance: N passed, M failed".
#
# The CLI and the server run in RUN_DIR: the caller's directory, unless the runner sets it.
# Optional hooks: the cleanup trap calls stop_helpers (to stop what else the runner started)
# and, on failure, failure_logs (after the end of the server log); run_suite calls
# suite_failed NAME RC when a suite fails. Runners that print a final
# "RUNNER-conformance: N passed, M failed" line even when they die set FINAL_PRINTED=0.
#
# Messages go to stderr as "[RUNNER-conformance HH:MM:SS] ..."; only the summary goes to stdout.

GATEHOUSE_BIN=${GATEHOUSE_BIN:-target/release/gatehouse}
case "$GATEHOUSE_BIN" in /*) ;; *) GATEHOUSE_BIN="$ROOT/$GATEHOUSE_BIN" ;; esac
RUN_DIR=.
FINAL_PRINTED=1
PASSED=0
FAILED=0
RESULTS=()

usage() { # the comment block at the top of the runner (after the #! line), without its "# "
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
}
no_arguments() { # "$@" of a runner that takes no options: --help, or exit 2 on anything else
  if [ $# -gt 0 ]; then
    case "$1" in
      -h|--help) usage; exit 0 ;;
      *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
  fi
}

log() { printf '[%s-conformance %s] %s\n' "$RUNNER" "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "FAILED: $*"
  if [ "$FINAL_PRINTED" = 0 ]; then echo "$RUNNER-conformance: 0 passed, 1 failed"; FINAL_PRINTED=1; fi
  exit 1
}

require_tools() { # [--hint TEXT] TOOL...: the Gatehouse binary is executable and every TOOL is on PATH
  local hint=""
  if [ "${1:-}" = --hint ]; then hint=" ($2)"; shift 2; fi
  [ -x "$GATEHOUSE_BIN" ] || die "no Gatehouse binary at $GATEHOUSE_BIN (build it with 'cargo build --release' or set GATEHOUSE_BIN)"
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool is required$hint"
  done
}

# ------------------------------------------------------------------ cleanup of what we started
make_workdir() { # WORK (gatehouse-RUNNER-conformance.XXXXXX in TMPDIR), SERVER_LOG, SERVER_PID; the traps
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-$RUNNER-conformance.XXXXXX")
  SERVER_LOG="$WORK/gatehouse.log"
  SERVER_PID=""
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}

stop() { # pid: TERM, wait up to 5 s, KILL
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

show_log() { # label file lines: the last lines of a log on stderr; false when the log is empty
  [ -s "$2" ] || return 1
  log "$1 ($2):"
  tail -n "$3" "$2" >&2 || true
}

empty_server_log_note() { # for failure_logs: say so when the server ran and its log is empty
  if [ ! -s "$SERVER_LOG" ] && [ -n "$SERVER_PID" ]; then
    log "the Gatehouse log is empty at GATEHOUSE_LOG=$GATEHOUSE_LOG (rerun with GATEHOUSE_LOG=info for more)"
  fi
}

cleanup() { # the EXIT trap: stop, show the logs on failure, keep or remove WORK, exit as the script did
  local rc=$?
  stop "$SERVER_PID"
  if declare -F stop_helpers >/dev/null; then stop_helpers; fi
  if [ "$rc" -ne 0 ]; then
    show_log "last lines of the Gatehouse log" "$SERVER_LOG" 40 || true
    if declare -F failure_logs >/dev/null; then failure_logs; fi
  fi
  if [ "${CONFORMANCE_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
    log "temp dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}

# ------------------------------------------------------------------------- installing the peers
npm_ci() { # [--stamp-node-version] dir label [note]: npm ci in dir unless node_modules matches the lock file
  local with_node=0
  if [ "$1" = --stamp-node-version ]; then with_node=1; shift; fi
  local dir=$1 label=$2 note=${3:-} stamp want
  stamp="$dir/node_modules/.gatehouse-lock.sha256"
  if [ "$with_node" = 1 ]; then
    want=$( (cat "$dir/package-lock.json"; node --version) | sha256sum | cut -d' ' -f1)
  else
    want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  fi
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "$label: node_modules up to date"
    return
  fi
  log "$label: npm ci${note:+ ($note)}"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2 || die "npm ci failed in $dir"
  echo "$want" > "$stamp"
}

# --------------------------------------------------------------------- Gatehouse and provisioning
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

gatehouse_env() { # PORT, and the settings of `gatehouse serve` and the CLI: loopback, state in WORK
  PORT=$(free_port)
  export GATEHOUSE_LISTEN="127.0.0.1:$PORT"
  export GATEHOUSE_PUBLIC_URL="http://127.0.0.1:$PORT"
  export GATEHOUSE_DATA_DIR="$WORK/data"
  export GATEHOUSE_KEYS_DIR="$WORK/keys"
  export GATEHOUSE_LOG=${GATEHOUSE_LOG:-warn}
  mkdir -p "$GATEHOUSE_DATA_DIR" "$GATEHOUSE_KEYS_DIR"
}

pass_through() { # VAR...: export each that the caller set (exported or not); a note on the master key
  local var
  for var in "$@"; do
    if [ -n "${!var:-}" ]; then export "$var"; fi
  done
  if [ -n "${GATEHOUSE_DATABASE_URL:-}" ] && [ -z "${GATEHOUSE_MASTER_KEY:-}" ]; then
    log "note: GATEHOUSE_DATABASE_URL is set but GATEHOUSE_MASTER_KEY is not; a fresh master key is made in the temp dir, which only works on a database without a key ring"
  fi
}

redis_prefix() { # default: with Redis, GATEHOUSE_REDIS_PREFIX defaults to it; exported when set
  if [ -n "${GATEHOUSE_REDIS_URL:-}" ]; then
    export GATEHOUSE_REDIS_PREFIX=${GATEHOUSE_REDIS_PREFIX:-"$1"}
  elif [ -n "${GATEHOUSE_REDIS_PREFIX:-}" ]; then
    export GATEHOUSE_REDIS_PREFIX
  fi
}

cli() { # name, args...: one CLI command (in RUN_DIR), its JSON output saved as $WORK/<name>.json
  local name=$1; shift
  # Administration commands need the database to exist: the first one creates it.
  if [ ! -e "$WORK/.migrated" ]; then
    (cd "$RUN_DIR" && exec "$GATEHOUSE_BIN" migrate) > "$WORK/migrate.json" 2>> "$WORK/cli.log" \
      || { cat "$WORK/cli.log" >&2; die "gatehouse migrate failed"; }
    touch "$WORK/.migrated"
  fi
  (cd "$RUN_DIR" && exec "$GATEHOUSE_BIN" "$@") > "$WORK/$name.json" 2>> "$WORK/cli.log" \
    || { cat "$WORK/cli.log" >&2; die "gatehouse $* failed"; }
}

start_gatehouse() { # `gatehouse serve` (in RUN_DIR) as SERVER_PID; waits up to 60 s for /healthz
  (cd "$RUN_DIR" && exec "$GATEHOUSE_BIN" serve) > "$WORK/gatehouse.stdout" 2> "$SERVER_LOG" &
  SERVER_PID=$!
  local i
  for i in $(seq 1 120); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || die "gatehouse serve exited early (its log follows)"
    [ "$i" = 120 ] && die "gatehouse did not answer /healthz within 60 s"
    sleep 0.5
  done
  log "gatehouse is up (pid $SERVER_PID)"
}

# ------------------------------------------------------------------------------- the journey
run_journey() { # script config: node SCRIPT CONFIG under TIMEOUT, its output shown and kept in
  # $WORK/journey.out. Sets JOURNEY_RC, JOURNEY_TOOK (s), JOURNEY_LAST (the journey's last
  # "N passed, M failed" line, empty when it printed none) and PASSED / FAILED from it (0 / 0
  # without one).
  local start=$SECONDS
  JOURNEY_RC=0
  timeout --kill-after=10 "$TIMEOUT" node "$1" "$2" | tee "$WORK/journey.out" || JOURNEY_RC=$?
  JOURNEY_TOOK=$((SECONDS - start))
  JOURNEY_LAST=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$WORK/journey.out" | tail -n1 || true)
  PASSED=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"${JOURNEY_LAST:-0 passed, 0 failed}")
  FAILED=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"${JOURNEY_LAST:-0 passed, 0 failed}")
}

journey_summary() { # title: the summary of the journey; false if anything failed
  # A journey that failed counts at least one failure, and gatehouse dying one more.
  if [ "$JOURNEY_RC" -ne 0 ] && [ "$FAILED" -eq 0 ]; then FAILED=1; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "gatehouse exited during the run"
    FAILED=$((FAILED + 1))
  fi
  local db=sqlite ephemeral=memory
  [ -n "${GATEHOUSE_DATABASE_URL:-}" ] && db=${GATEHOUSE_DATABASE_URL%%:*}
  [ -n "${GATEHOUSE_REDIS_URL:-}" ] && ephemeral="redis, prefix $GATEHOUSE_REDIS_PREFIX"
  banner "$1"
  echo "  database: $db; ephemeral store: $ephemeral; journey took ${JOURNEY_TOOK}s"
  final_line
  [ "$FAILED" -eq 0 ]
}

# ---------------------------------------------------------------------------------- the suites
want_suite() { [ -z "${ONLY:-}" ] || [ "$ONLY" = "$1" ]; } # ONLY: the runner's --only

run_suite() { # name, command...: one suite under TIMEOUT (unless --only names another one);
  # its PASS/FAIL line goes to RESULTS, PASSED or FAILED counts it
  local name=$1; shift
  want_suite "$name" || return 0
  log "running $name"
  local start=$SECONDS rc=0
  timeout --kill-after=10 "$TIMEOUT" "$@" || rc=$?
  local took=$((SECONDS - start))
  if [ "$rc" -eq 0 ]; then
    PASSED=$((PASSED + 1)); RESULTS+=("PASS  $name (${took}s)")
  else
    if declare -F suite_failed >/dev/null; then suite_failed "$name" "$rc"; fi
    FAILED=$((FAILED + 1)); RESULTS+=("FAIL  $name (exit $rc after ${took}s)")
  fi
}

suites_summary() { # title, message when no suite ran: the summary of the suites; false if any failed
  kill -0 "$SERVER_PID" 2>/dev/null || { FAILED=$((FAILED + 1)); RESULTS+=("FAIL  gatehouse exited during the run"); }
  banner "$1"
  local line
  for line in "${RESULTS[@]}"; do echo "  $line"; done
  [ $((PASSED + FAILED)) -gt 0 ] || die "$2"
  final_line
  [ "$FAILED" -eq 0 ]
}

# ---------------------------------------------------------------------------------- the summary
banner() { # title: a blank line, then "TITLE against <gatehouse --version> at <issuer>"
  echo
  echo "$1 against $("$GATEHOUSE_BIN" --version 2>/dev/null || echo gatehouse) at $GATEHOUSE_PUBLIC_URL/$SLUG"
}

final_line() { # the last line: "RUNNER-conformance: PASSED passed, FAILED failed"
  FINAL_PRINTED=1
  echo "$RUNNER-conformance: $PASSED passed, $FAILED failed"
}
