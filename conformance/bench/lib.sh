# shellcheck shell=bash
# Shared pieces of the benchmark runners (token.sh, saml.sh, federation.sh, password.sh,
# invite.sh), sourced after each runner has set `WORK` (its temp dir), `log` and `die`:
#
#   - the backend: `--backend sqlite|postgres` (env BENCH_BACKEND, default sqlite). On postgres
#     bench_backend_init creates a fresh database on 127.0.0.1:5432 (user postgres, trust auth),
#     and exports GATEHOUSE_DATABASE_URL, GATEHOUSE_REDIS_URL=redis://127.0.0.1:6379 and a
#     unique GATEHOUSE_REDIS_PREFIX, so that every gatehouse command the runner starts (the CLI
#     provisioning and `serve`) uses them; bench_backend_cleanup (from the runner's EXIT trap,
#     after its processes are stopped) drops the database and deletes the prefix's Redis keys.
#     bench_backend_json prints the `settings.backend` object of the JSON summary.
#   - the profile: `--profile` (env BENCH_PROFILE=1). bench_profile_start PID records the
#     Gatehouse process with `perf record -e cpu-clock -F 999 --call-graph dwarf -p PID` until
#     bench_profile_stop, which keeps the top of `perf report --no-children --sort dso,symbol`
#     (and of `--sort dso`) beside $BENCH_OUT (BASE.perf-symbols.txt, BASE.perf-dso.txt, and the
#     recording itself, BASE.perf.data, for `perf report -i` with call graphs), and as a JSON
#     object for the summary (bench_profile_json: null without --profile).
#   - small helpers every runner had its own copy of: cpu_ticks, rss_kb, hwm_kb, and bench_install
#     (the apt installs of the commands a runner needs, with the backend's and the profile's).
#
# Nothing here starts a server; each runner still owns its processes and its EXIT trap.

BENCH_BACKEND=${BENCH_BACKEND:-sqlite}
BENCH_PROFILE=${BENCH_PROFILE:-0}
BENCH_PG_HOST=${BENCH_PG_HOST:-127.0.0.1}
BENCH_PG_PORT=${BENCH_PG_PORT:-5432}
BENCH_REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
BENCH_DB_NAME=""
# A bench's Gatehouse has no load balancer to wait for: without this, `serve` keeps serving
# server.drain_seconds (10) after SIGTERM, longer than the runners wait before SIGKILL.
export GATEHOUSE_SERVER__DRAIN_SECONDS=${GATEHOUSE_SERVER__DRAIN_SECONDS:-0}
BENCH_PROFILE_PID=""
BENCH_PROFILE_JSON=null

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0; }
# How long a runner lets Gatehouse idle before it reads an idle or after-load RSS: argon2's
# work memory goes back to the system after a quiet second (src/passwords/memory.rs).
RSS_SETTLE_S=2
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Packages (apt names) the backend and the profile need that are missing; the runner installs them.
bench_lib_packages() {
  if [ "$BENCH_BACKEND" = postgres ]; then
    command -v psql >/dev/null || echo postgresql-client
    command -v redis-cli >/dev/null || echo redis-tools
  fi
  if [ "$BENCH_PROFILE" = 1 ]; then command -v perf >/dev/null || echo linux-perf; fi
  return 0
}

# bench_install COMMAND[:PACKAGE]...: installs with apt (idempotent) the package of every COMMAND
# missing from PATH (the package is the command's own name unless given), with what the backend
# and the profile need (bench_lib_packages).
bench_install() {
  local need=() spec
  for spec in "$@"; do
    command -v "${spec%%:*}" >/dev/null || need+=("${spec#*:}")
  done
  mapfile -t -O "${#need[@]}" need < <(bench_lib_packages)
  [ ${#need[@]} -gt 0 ] || return 0
  log "installing ${need[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null; } \
    || die "apt-get install ${need[*]}"
}

bench_psql() { psql -h "$BENCH_PG_HOST" -p "$BENCH_PG_PORT" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"; }
bench_redis_cli() { redis-cli -u "$BENCH_REDIS_URL" "$@"; }

# bench_backend_check: validates BENCH_BACKEND; on postgres checks that Postgres and Redis answer.
bench_backend_check() {
  case "$BENCH_BACKEND" in
    sqlite) ;;
    postgres)
      command -v psql >/dev/null || die "--backend postgres needs psql (apt install postgresql-client)"
      command -v redis-cli >/dev/null || die "--backend postgres needs redis-cli (apt install redis-tools)"
      bench_psql -d postgres -tAc 'SELECT 1' >/dev/null 2>&1 \
        || die "no Postgres at $BENCH_PG_HOST:$BENCH_PG_PORT (user postgres, trust auth)"
      [ "$(bench_redis_cli ping 2>/dev/null)" = PONG ] || die "no Redis at $BENCH_REDIS_URL"
      ;;
    *) die "unknown backend '$BENCH_BACKEND' (sqlite or postgres)" ;;
  esac
}

# bench_database_create NAME: creates the Postgres database NAME.
bench_database_create() {
  bench_psql -d postgres -c "CREATE DATABASE \"$1\"" >/dev/null || die "CREATE DATABASE $1"
}

# bench_database_use NAME: exports the Gatehouse settings for the Postgres database NAME
# (GATEHOUSE_DATABASE_URL, GATEHOUSE_REDIS_URL and the Redis key prefix bench:NAME:).
bench_database_use() {
  export GATEHOUSE_DATABASE_URL="postgres://postgres@$BENCH_PG_HOST:$BENCH_PG_PORT/$1"
  export GATEHOUSE_REDIS_URL="$BENCH_REDIS_URL"
  export GATEHOUSE_REDIS_PREFIX="bench:$1:"
}

# bench_database_drop NAME: drops the Postgres database NAME and deletes its Redis keys.
bench_database_drop() {
  bench_psql -d postgres -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1 \
    || log "note: could not drop database $1"
  bench_redis_cli --scan --pattern "bench:$1:*" 2>/dev/null \
    | xargs -r -n 500 redis-cli -u "$BENCH_REDIS_URL" del >/dev/null 2>&1 || true
}

# bench_backend_init NAME: validates BENCH_BACKEND; on postgres creates the database and exports
# the Gatehouse settings (call after WORK, log and die exist, before any gatehouse command).
bench_backend_init() {
  bench_backend_check
  [ "$BENCH_BACKEND" = postgres ] || return 0
  BENCH_DB_NAME="bench_${1}_$(date +%s)_$$_$RANDOM"
  bench_database_create "$BENCH_DB_NAME"
  bench_database_use "$BENCH_DB_NAME"
  log "backend: Postgres database $BENCH_DB_NAME on $BENCH_PG_HOST:$BENCH_PG_PORT, Redis $BENCH_REDIS_URL (prefix $GATEHOUSE_REDIS_PREFIX)"
}

# Drops what bench_backend_init created (from the EXIT trap, after the runner's processes stopped).
bench_backend_cleanup() {
  [ -n "$BENCH_DB_NAME" ] || return 0
  bench_database_drop "$BENCH_DB_NAME"
  BENCH_DB_NAME=""
}

# The JSON summary's settings.backend.
bench_backend_json() {
  if [ "$BENCH_BACKEND" = postgres ]; then
    jq -nc --arg pg "$(bench_psql -d postgres -tAc 'SHOW server_version' 2>/dev/null || true)" \
      --arg redis "$(bench_redis_cli info server 2>/dev/null | tr -d '\r' | sed -n 's/^redis_version://p')" \
      '{name: "postgres", database: "postgres \($pg)", ephemeral: "redis \($redis)"}'
  else
    case "${GATEHOUSE_DATABASE_URL:-}" in
      postgres*) jq -nc --arg redis "${GATEHOUSE_REDIS_URL:+redis}" \
                   '{name: "postgres", database: "postgres (GATEHOUSE_DATABASE_URL from the caller)", ephemeral: (if $redis == "" then "in-process" else $redis end)}' ;;
      *) jq -nc '{name: "sqlite", database: "sqlite (WAL, in GATEHOUSE_DATA_DIR)", ephemeral: "in-process"}' ;;
    esac
  fi
}

# bench_profile_start PID: perf record of that process until bench_profile_stop.
bench_profile_start() {
  [ "$BENCH_PROFILE" = 1 ] || return 0
  command -v perf >/dev/null || die "--profile needs perf (apt install linux-perf)"
  perf record -e cpu-clock -F 999 --call-graph dwarf -p "$1" -o "$WORK/perf.data" \
    > "$WORK/perf-record.log" 2>&1 &
  BENCH_PROFILE_PID=$!
  PIDS+=("$BENCH_PROFILE_PID")
  sleep 0.3
  kill -0 "$BENCH_PROFILE_PID" 2>/dev/null || { cat "$WORK/perf-record.log" >&2; die "perf record did not start"; }
}

# bench_profile_stop LABEL: ends the recording; keeps the reports; sets BENCH_PROFILE_JSON.
bench_profile_stop() {
  [ -n "$BENCH_PROFILE_PID" ] || return 0
  local label=$1 keep p
  kill -INT "$BENCH_PROFILE_PID" 2>/dev/null || true
  wait "$BENCH_PROFILE_PID" 2>/dev/null || true
  keep=(); for p in "${PIDS[@]}"; do [ "$p" = "$BENCH_PROFILE_PID" ] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
  BENCH_PROFILE_PID=""
  tidy() { grep -E '^ +[0-9]+\.[0-9]+%' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//; s/^[[:space:]]+//; s/[[:space:]]{2,}/  /g'; }
  perf report -i "$WORK/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null | tidy | head -n 40 > "$WORK/perf-symbols.txt" || true
  perf report -i "$WORK/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | tidy | head -n 15 > "$WORK/perf-dso.txt" || true
  local samples
  samples=$(perf report -i "$WORK/perf.data" --stdio -g none --sort dso 2>/dev/null | sed -n 's/^# Samples: \([0-9.]*[KM]\{0,1\}\).*/\1/p' | head -n1)
  mkdir -p "$(dirname "$BENCH_OUT")"
  local base="${BENCH_OUT%.json}"
  cp "$WORK/perf-symbols.txt" "$base.perf-symbols.txt"
  cp "$WORK/perf-dso.txt" "$base.perf-dso.txt"
  mv "$WORK/perf.data" "$base.perf.data" 2>/dev/null || true
  log "perf ($label): samples by binary"; sed 's/^/    /' "$WORK/perf-dso.txt" >&2
  log "perf ($label): top symbols"; head -n 15 "$WORK/perf-symbols.txt" | sed 's/^/    /' >&2
  BENCH_PROFILE_JSON=$(jq -nc --arg what "$label" --arg samples "${samples:-}" \
    --rawfile dso "$WORK/perf-dso.txt" --rawfile sym "$WORK/perf-symbols.txt" \
    --arg data "$base.perf.data" --arg sym_file "$base.perf-symbols.txt" '
    { round: $what, samples: $samples,
      command: "perf record -e cpu-clock -F 999 --call-graph dwarf -p <gatehouse pid>; perf report --no-children --sort dso,symbol",
      by_dso: ($dso | split("\n") | map(select(. != ""))),
      top_symbols: ($sym | split("\n") | map(select(. != ""))),
      report_file: $sym_file, perf_data: $data }')
}

bench_profile_json() { printf '%s\n' "${BENCH_PROFILE_JSON:-null}"; }

# The EXIT trap of every runner: `cleanup() { bench_cleanup $? LOG...; }`. Stops every process in
# the runner's PIDS (TERM, then KILL after 3 s), drops the Postgres database and Redis keys of
# --backend postgres, shows the last lines of each LOG when the run failed, keeps $WORK when it
# failed or BENCH_KEEP=1 (else removes it), and exits with the run's status.
bench_cleanup() {
  local rc=$1 pid f
  shift
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.3; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  bench_backend_cleanup
  if [ "$rc" -ne 0 ]; then
    for f in "$@"; do
      [ -s "$f" ] && { log "last lines of $f:"; tail -n 20 "$f" >&2 || true; }
    done
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
