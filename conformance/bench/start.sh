#!/usr/bin/env bash
# Start-to-ready benchmark: how long `gatehouse serve` takes from exec until `/healthz` answers
# 200, on a fresh database (the node creates its master key, runs every migration and generates
# its signing keys) and on a warm one (the same data again: keys and schema exist), against the
# machine's own floor for a fresh start measured in the same run: the first of two concurrent
# `openssl genrsa 2048` to finish (a fresh node generates two RSA-2048 keys at once and is ready
# when the first is done, see src/keys/mod.rs). On Postgres a second floor: Postgres's own time
# for the schema, every migration file run by one psql session on a fresh database (a fresh node
# runs its migrations while its keys are generated; on two cores it starts one generation then
# and its rival after migrating). Fresh start, floors and warm start
# alternate, one of each per round. Medians, min and max of each; the ratio fresh / key floor.
# Any start that fails to come up fails the run. See conformance/bench/README.md.
#
# Usage: conformance/bench/start.sh [--smoke] [--starts N] [--backend sqlite|postgres] [--help]
# Env:   GATEHOUSE_BIN (default <repo>/target/release/gatehouse; skipped with a notice if missing)
#        BENCH_OUT (JSON summary path; default a temp file), BENCH_STARTS (12 rounds),
#        BENCH_BACKEND (sqlite: a fresh data dir per fresh start; postgres: a fresh database on
#        127.0.0.1:5432 per fresh start, with Redis and a fresh key prefix, see lib.sh),
#        BENCH_KEEP=1 keeps the temp dir with the server logs. --profile is accepted and ignored
#        (a start is too short to sample; all.sh passes it to every runner).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=conformance/bench/lib.sh
. "$HERE/lib.sh"

STARTS=${BENCH_STARTS:-12}
MODE=full

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) MODE=smoke; STARTS=3 ;;
    --starts) STARTS=$2; shift ;;
    --backend) BENCH_BACKEND=$2; shift ;;
    --profile) ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[ "$STARTS" -ge 1 ] 2>/dev/null || { echo "--starts must be a positive number" >&2; exit 2; }
BENCH_PROFILE=0

GATEHOUSE_BIN=${GATEHOUSE_BIN:-$ROOT/target/release/gatehouse}
case "$GATEHOUSE_BIN" in /*) ;; *) GATEHOUSE_BIN="$ROOT/$GATEHOUSE_BIN" ;; esac

STARTED=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-start-bench.XXXXXX")
BENCH_OUT=${BENCH_OUT:-$WORK.json}

log() { printf '[start-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

PIDS=()
DATABASES=()   # Postgres databases of the round under way, dropped at its end (or here on a failure)
cleanup() {
  local rc=$? db
  for db in "${DATABASES[@]+"${DATABASES[@]}"}"; do bench_database_drop "$db"; done
  bench_cleanup "$rc" "$WORK"/start-*/server.log
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_install jq openssl python3

if [ ! -x "$GATEHOUSE_BIN" ]; then
  log "no Gatehouse binary at $GATEHOUSE_BIN (cargo build --release): skipped"
  jq -n '{benchmark: "start", skipped: "no gatehouse binary"}' > "$BENCH_OUT"
  exit 0
fi
bench_backend_check
unset GATEHOUSE_DATABASE_URL GATEHOUSE_REDIS_URL GATEHOUSE_REDIS_PREFIX

log "mode=$MODE backend=$BENCH_BACKEND rounds=$STARTS binary=$GATEHOUSE_BIN (load average $(cut -d' ' -f1 /proc/loadavg))"

# One timed start: execs `gatehouse serve` in DIR and polls /healthz every 2 ms with one small
# client that was already running before the exec (a curl per poll would compete with the
# start for the two cores). Prints the milliseconds; fails if the node exits or takes > 60 s.
time_start() {
  local dir=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  GATEHOUSE_LISTEN="127.0.0.1:$port" GATEHOUSE_PUBLIC_URL="http://127.0.0.1:$port" \
    GATEHOUSE_DATA_DIR="$dir/data" GATEHOUSE_KEYS_DIR="$dir/keys" \
    python3 - "$GATEHOUSE_BIN" "$dir" "$port" <<'PY'
import http.client, subprocess, sys, time
binary, workdir, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(f"{workdir}/server.log", "ab") as out:
    began = time.monotonic()
    node = subprocess.Popen([binary, "serve"], cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    try:
        while True:
            if node.poll() is not None:
                sys.exit(f"gatehouse exited with {node.returncode} before it was ready")
            if time.monotonic() - began > 60:
                sys.exit("gatehouse was not ready within 60 s")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.002)
        print(round((time.monotonic() - began) * 1000, 1))
    finally:
        node.terminate()
        node.wait()
PY
}

# The floor of a fresh start: the first of two concurrent RSA-2048 key generations to finish.
time_floor() {
  python3 - <<'PY'
import subprocess, time
began = time.monotonic()
gens = [subprocess.Popen(["openssl", "genrsa", "-out", "/dev/null", "2048"], stderr=subprocess.DEVNULL) for _ in range(2)]
while all(g.poll() is None for g in gens):
    time.sleep(0.001)
print(round((time.monotonic() - began) * 1000, 1))
for g in gens:
    g.kill()
    g.wait()
PY
}

# Postgres's floor for the schema: every migration file in one psql session on the new, empty
# database DB. Prints the milliseconds.
time_migrations_floor() {
  local began ended
  began=$(date +%s%N)
  cat "$ROOT"/migrations/postgres/*.sql | bench_psql -d "$1" >/dev/null || die "the migrations in psql"
  ended=$(date +%s%N)
  awk -v ns=$((ended - began)) 'BEGIN { printf "%.1f\n", ns / 1e6 }'
}

FRESH=(); WARM=(); FLOOR=(); DDL=()
for i in $(seq 1 "$STARTS"); do
  dir="$WORK/start-$i"; mkdir -p "$dir"
  if [ "$BENCH_BACKEND" = postgres ]; then
    db="bench_start_$(date +%s)_$$_$i"
    DATABASES=("$db" "${db}_ddl")
    bench_database_create "$db"
    bench_database_create "${db}_ddl"   # for the schema floor
    bench_database_use "$db"
  fi
  fresh=$(time_start "$dir") || die "fresh start $i (log: $dir/server.log)"
  floor=$(time_floor) || die "openssl genrsa"
  warm=$(time_start "$dir") || die "warm start $i (log: $dir/server.log)"
  FRESH+=("$fresh"); FLOOR+=("$floor"); WARM+=("$warm")
  ddl=""
  if [ "$BENCH_BACKEND" = postgres ]; then
    ddl=$(time_migrations_floor "${db}_ddl") || die "the schema floor"; DDL+=("$ddl")
    for db in "${DATABASES[@]}"; do bench_database_drop "$db"; done
    DATABASES=()
  fi
  log "round $i: fresh ${fresh} ms, floor ${floor} ms${ddl:+, migrations in psql ${ddl} ms}, warm ${warm} ms"
done

SUMMARY=$(jq -n --arg mode "$MODE" --arg bin "$GATEHOUSE_BIN" --argjson backend "$(bench_backend_json)" \
  --argjson fresh "$(printf '%s\n' "${FRESH[@]}" | jq -sc .)" \
  --argjson floor "$(printf '%s\n' "${FLOOR[@]}" | jq -sc .)" \
  --argjson warm "$(printf '%s\n' "${WARM[@]}" | jq -sc .)" \
  --argjson ddl "$(printf '%s\n' "${DDL[@]+"${DDL[@]}"}" | jq -sc .)" '
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
              else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def stats: { ms_median: median, ms_min: min, ms_max: max, ms_each: . };
  { benchmark: "start", mode: $mode, gatehouse: $bin,
    settings: { backend: $backend, rounds: ($fresh | length),
      probe: "GET /healthz every 2 ms from a client started before the exec; ms from the exec to the first 200" },
    results: { fresh: ($fresh | stats), warm: ($warm | stats),
      floor: ($floor | stats | . + { what: "the first of two concurrent `openssl genrsa 2048` to finish" }),
      floor_migrations: (if ($ddl | length) == 0 then null
        else $ddl | stats | . + { what: "every migrations/postgres file in one psql session on a new database" } end),
      fresh_over_floor: (($fresh | median) / ($floor | median) * 100 | round / 100) } }')
printf '%s\n' "$SUMMARY" > "$BENCH_OUT"

jq -r '"Start to ready (\(.mode), \(.settings.backend.name), \(.settings.rounds) rounds, alternated):",
  "  fresh database: median \(.results.fresh.ms_median) ms (\(.results.fresh.ms_min)-\(.results.fresh.ms_max))",
  "  floor (first of two RSA-2048 generations): median \(.results.floor.ms_median) ms (\(.results.floor.ms_min)-\(.results.floor.ms_max)); fresh / floor x\(.results.fresh_over_floor)",
  (.results.floor_migrations | select(. != null) | "  Postgres floor (the migrations in one psql session): median \(.ms_median) ms (\(.ms_min)-\(.ms_max))"),
  "  warm (same data again): median \(.results.warm.ms_median) ms (\(.results.warm.ms_min)-\(.results.warm.ms_max))"' \
  <<<"$SUMMARY" >&2
log "took $((SECONDS - STARTED)) s; JSON: $BENCH_OUT"
