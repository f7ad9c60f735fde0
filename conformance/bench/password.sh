#!/usr/bin/env bash
# Password sign-in benchmark: complete browser-style sign-ins of member users at Gatehouse
# (authorize with PKCE S256, state and nonce -> sign-in page -> identifier -> password -> code ->
# token endpoint with client_secret_basic -> ID token), driven by password.mjs with N virtual
# users and a fresh cookie jar per flow, against the machine's argon2id ceiling measured in the
# same run: Gatehouse's exact parameters (argon2 crate defaults: argon2id m=19456 KiB t=2 p=1),
# one process per core hashing in a loop (argon2-ceiling/). Rounds alternate ceiling, Gatehouse,
# ceiling, Gatehouse (A B A B); medians of flows/s, % of the ceiling (each flow verifies exactly
# one password), CPU ms per flow, p50/p99 and RSS. See conformance/bench/README.md.
#
# Usage: conformance/bench/password.sh [--smoke] [--rounds N] [--duration SECONDS] [--vus N]
#          [--users N] [--backend sqlite|postgres] [--profile] [--help]
# Env:   GATEHOUSE_BIN (default <repo>/target/release/gatehouse; required), BENCH_OUT (JSON
#        summary; default a temp file), BENCH_ROUNDS (3), BENCH_DURATION (15), BENCH_WARMUP (3),
#        BENCH_VUS (16 virtual users), BENCH_USERS (4 member users; virtual user i signs in as
#        user i mod N), BENCH_BACKEND (sqlite), BENCH_PROFILE=1 (as --profile), BENCH_KEEP=1
#        keeps the temp dir, GATEHOUSE_LOG (default warn), BENCH_ARGON2_TARGET (cargo target dir
#        of the ceiling; default conformance/bench/argon2-ceiling/target, git-ignored).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DRIVER="$HERE/password.mjs"
CEILING_DIR="$HERE/argon2-ceiling"
# shellcheck source=conformance/bench/lib.sh
. "$HERE/lib.sh"

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-15}
WARMUP=${BENCH_WARMUP:-3}
VUS=${BENCH_VUS:-16}
USERS=${BENCH_USERS:-4}
MODE=full

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) MODE=smoke; ROUNDS=1; DURATION=3; WARMUP=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --vus) VUS=$2; shift ;;
    --users) USERS=$2; shift ;;
    --backend) BENCH_BACKEND=$2; shift ;;
    --profile) BENCH_PROFILE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

GATEHOUSE_BIN=${GATEHOUSE_BIN:-$ROOT/target/release/gatehouse}
case "$GATEHOUSE_BIN" in /*) ;; *) GATEHOUSE_BIN="$ROOT/$GATEHOUSE_BIN" ;; esac
CEILING_TARGET=${BENCH_ARGON2_TARGET:-$CEILING_DIR/target}
NPROC=$(nproc)

STARTED=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-password-bench.XXXXXX")
BENCH_OUT=${BENCH_OUT:-$WORK.json}
RESULTS="$WORK/rounds.jsonl"
: > "$RESULTS"

log() { printf '[password-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup of everything we start
PIDS=()
cleanup() { bench_cleanup $? "$WORK/gatehouse/server.log"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- installs (idempotent)
[ -x "$GATEHOUSE_BIN" ] || die "no Gatehouse binary at $GATEHOUSE_BIN (build it with 'cargo build --release' or set GATEHOUSE_BIN)"
bench_install jq curl
command -v node >/dev/null || die "node is required (Node.js 20+)"
command -v cargo >/dev/null || die "cargo is required to build the argon2id ceiling ($CEILING_DIR)"

# ---------------------------------------------------------------- the ceiling program
# Same argon2 (and blake2, password-hash) as Gatehouse: the two lock files must agree.
lock_versions() { awk '/^name = "(argon2|blake2|password-hash)"$/ {n=$3; getline; print n, $3}' "$1" | sort; }
[ "$(lock_versions "$CEILING_DIR/Cargo.lock")" = "$(lock_versions "$ROOT/Cargo.lock")" ] \
  || die "argon2-ceiling/Cargo.lock pins $(lock_versions "$CEILING_DIR/Cargo.lock" | tr '\n' ' ')but Cargo.lock has $(lock_versions "$ROOT/Cargo.lock" | tr '\n' ' ')"
ARGON2_VERSION=$(lock_versions "$ROOT/Cargo.lock" | awk '$1 == "\"argon2\"" {gsub(/"/, "", $2); print $2}')
log "building the argon2id ceiling (argon2 $ARGON2_VERSION, release) in $CEILING_TARGET"
(cd "$CEILING_DIR" && CARGO_TARGET_DIR="$CEILING_TARGET" cargo build --release --locked --quiet) > "$WORK/ceiling-build.log" 2>&1 \
  || { cat "$WORK/ceiling-build.log" >&2; die "cargo build of $CEILING_DIR"; }
CEILING_BIN="$CEILING_TARGET/release/argon2-ceiling"

# ---------------------------------------------------------------- helpers
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
secret() { head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='; }
wait_http_200() { # url pid timeout log
  local url=$1 pid=$2 timeout=${3:-30} logf=${4:-} code
  for _ in $(seq 1 $((timeout * 5))); do
    kill -0 "$pid" 2>/dev/null || { [ -n "$logf" ] && tail -n 30 "$logf" >&2; return 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    [ "$code" = 200 ] && return 0
    sleep 0.2
  done
  [ -n "$logf" ] && tail -n 30 "$logf" >&2
  return 1
}

LOADAVG_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
log "mode=$MODE backend=$BENCH_BACKEND rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s vus=$VUS users=$USERS ceiling processes=$NPROC profile=$BENCH_PROFILE (load average $LOADAVG_BEFORE)"
bench_backend_init password

# ---------------------------------------------------------------- Gatehouse: tenant, app, users, serve
SLUG="pwbench-$(date +%s)-$RANDOM"
GH_PORT=$(free_port)
APP_PORT=$(free_port) # the app's redirect URI; nothing listens there, the driver stops at the redirect
mkdir -p "$WORK/gatehouse/data" "$WORK/gatehouse/keys"
export GATEHOUSE_DATA_DIR="$WORK/gatehouse/data" GATEHOUSE_KEYS_DIR="$WORK/gatehouse/keys"
export GATEHOUSE_LISTEN="127.0.0.1:$GH_PORT" GATEHOUSE_PUBLIC_URL="http://127.0.0.1:$GH_PORT"
export GATEHOUSE_LOG=${GATEHOUSE_LOG:-warn}
# Gatehouse runs from its temp dir so that no gatehouse.toml in the caller's cwd is picked up.
gh_cli() { # runs the CLI (stdin passed on), prints its stdout JSON object
  local out="$WORK/gatehouse/cli-$RANDOM.out" json
  (cd "$WORK/gatehouse" && exec "$GATEHOUSE_BIN" "$@") > "$out" 2> "$out.err" \
    || { cat "$out.err" >&2; die "gatehouse $* failed"; }
  json=$(jq -c 'select(type == "object")' "$out" 2>/dev/null | tail -n1 || true)
  [ -n "$json" ] || { cat "$out.err" >&2; die "gatehouse $* printed no JSON object"; }
  printf '%s\n' "$json"
}
log "gatehouse: provisioning tenant $SLUG, an app and $USERS member users with $GATEHOUSE_BIN"
gh_cli migrate >/dev/null   # administration commands need an existing database
TENANT=$(gh_cli tenant create --slug "$SLUG" --name "Password Bench")
GH_ISSUER=$(jq -er .issuer <<<"$TENANT") || die "tenant create printed no issuer"
GH_APP=$(gh_cli app create --tenant "$SLUG" --name "Bench app" --redirect-uri "http://127.0.0.1:$APP_PORT/callback" \
  | jq -c '{client_id, client_secret, redirect_uri: .redirect_uris[0]}')
jq -e '.client_id and .client_secret and .redirect_uri' >/dev/null <<<"$GH_APP" || die "app create printed no client"
PASSWORD="bench $(secret)"   # one random password per run, for every user; by stdin and a 0600 file only
EMAILS=()
for i in $(seq 1 "$USERS"); do
  email="member$i@$SLUG.bench.example"
  printf '%s\n' "$PASSWORD" | gh_cli user create --tenant "$SLUG" --email "$email" --name "Member $i" \
    --given-name Member --family-name "$i" --password-stdin >/dev/null
  EMAILS+=("$email")
done
(cd "$WORK/gatehouse" && exec "$GATEHOUSE_BIN" serve) > "$WORK/gatehouse/server.log" 2>&1 &
GH_PID=$!; PIDS+=("$GH_PID")
wait_http_200 "http://127.0.0.1:$GH_PORT/healthz" "$GH_PID" 60 "$WORK/gatehouse/server.log" \
  || die "gatehouse did not come up on 127.0.0.1:$GH_PORT"
log "gatehouse: up (pid $GH_PID) at $GH_ISSUER"

# ---------------------------------------------------------------- driver config (holds secrets: mode 0600)
CONFIG="$WORK/config.json"
(umask 077; jq -n --argjson vus "$VUS" --argjson clk "$(getconf CLK_TCK)" --arg issuer "$GH_ISSUER" \
  --argjson pid "$GH_PID" --argjson app "$GH_APP" --arg password "$PASSWORD" \
  --argjson users "$(printf '%s\n' "${EMAILS[@]}" | jq -R . | jq -sc .)" '
  { vus: $vus, clk_tck: $clk, users: $users, password: $password,
    gatehouse: { issuer: $issuer, pid: $pid, app: $app } }' > "$CONFIG")

log "setup: one sign-in per user; one flow verified in full"
SETUP=$(node "$DRIVER" setup "$CONFIG" 2> "$WORK/setup.err") || { cat "$WORK/setup.err" >&2; die "setup / verification"; }
jq -e '.ok == true' >/dev/null <<<"$SETUP" || die "setup printed no result"
log "gatehouse: $(jq -r '"verified flow: \(.gatehouse.requests) browser requests (\(.gatehouse.path | join(" -> "))), ID token \(.gatehouse.signature), claims \(.gatehouse.claims | del(.sub, .iss) | tojson); consent pages answered in setup: \(.consents_granted)"' <<<"$SETUP")"
sleep "$RSS_SETTLE_S"
GH_IDLE_KB=$(rss_kb "$GH_PID")
log "gatehouse: idle RSS $((GH_IDLE_KB / 1024)) MB"

# ---------------------------------------------------------------- the two sides of a round
run_ceiling() { # round seconds record(0|1): NPROC processes hashing for SECONDS, summed
  local round=$1 secs=$2 record=$3 i pids=() out json
  for i in $(seq 1 "$NPROC"); do
    "$CEILING_BIN" "$secs" > "$WORK/ceiling-$round-$i.json" 2> "$WORK/ceiling-$round-$i.err" &
    pids+=($!); PIDS+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { cat "$WORK/ceiling-$round-$((i + 1)).err" >&2; die "argon2-ceiling failed"; }
  done
  local keep=() p q drop
  for p in "${PIDS[@]}"; do drop=0; for q in "${pids[@]}"; do [ "$p" = "$q" ] && drop=1; done; [ "$drop" = 1 ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  json=$(cat "$WORK"/ceiling-"$round"-*.json | jq -sc '
    { processes: length, hashes: (map(.hashes) | add), hashes_per_s: (map(.hashes_per_s) | add | . * 10 | round / 10),
      cpu_s: (if all(.cpu_s != null) then (map(.cpu_s) | add) else null end),
      seconds: (map(.seconds) | add / length),
      per_process: map(.hashes_per_s), phc_prefix: .[0].phc_prefix }
    | .cpu_ms_per_hash = (if .cpu_s and .hashes > 0 then (.cpu_s * 1000 / .hashes | . * 100 | round / 100) else null end)
    | .cores = (if .cpu_s then (.cpu_s / .seconds | . * 100 | round / 100) else null end)')
  [ "$(jq .hashes <<<"$json")" -gt 0 ] || die "the ceiling hashed nothing"
  [ "$(jq -r .phc_prefix <<<"$json")" = '$argon2id$v=19$m=19456,t=2,p=1' ] || die "the ceiling's parameters are $(jq -r .phc_prefix <<<"$json")"
  if [ "$record" = 1 ]; then
    jq -c --argjson round "$round" '. + {side: "ceiling", round: $round}' <<<"$json" >> "$RESULTS"
    log "$(jq -r '"ceiling   round \(.round): \(.hashes_per_s) hashes/s (\(.per_process | map(tostring) | join(" + "))), \(.cores) cores = \(.cpu_ms_per_hash) ms CPU per hash"' <<<"$(jq -c --argjson round "$round" '. + {round: $round}' <<<"$json")")"
  fi
}

run_gatehouse() { # round seconds record(0|1|profile)
  local round=$1 secs=$2 record=$3 out="$WORK/run-$1.json" json
  [ "$record" = profile ] && bench_profile_start "$GH_PID"
  node "$DRIVER" run "$CONFIG" "$secs" > "$out" 2> "$out.err" || { cat "$out.err" >&2; die "the driver failed"; }
  [ "$record" = profile ] && bench_profile_stop "extra round after the recorded ones (not in the medians)"
  json=$(tail -n1 "$out")
  jq -e '.flows >= 0' >/dev/null 2>&1 <<<"$json" || { cat "$out" "$out.err" >&2; die "no driver summary"; }
  kill -0 "$GH_PID" 2>/dev/null || die "gatehouse died under load (round $round)"
  if [ "$(jq .errors <<<"$json")" != 0 ]; then
    jq -r '.error_samples[]' <<<"$json" >&2
    die "$(jq .errors <<<"$json") failed flows (round $round); the first ones are above"
  fi
  [ "$(jq .flows <<<"$json")" -gt 0 ] || die "no flow completed (round $round)"
  if [ "$record" = 1 ]; then
    jq -c --argjson round "$round" '. + {round: $round}' <<<"$json" >> "$RESULTS"
  fi
  if [ "$record" != 0 ]; then
    log "$(jq -r --arg r "$round" '"gatehouse round \($r): \(.flows_per_s) flows/s  p50 \(.p50_ms) ms  p99 \(.p99_ms) ms  \(.cpu.cores) cores = \(.cpu.cpu_ms_per_flow) ms CPU per flow  driver \(.driver_cores) cores"' <<<"$json")"
  fi
  [ "$record" = profile ] && PROFILE_ROUND=$json
  return 0
}

# ---------------------------------------------------------------- warm-up, then A B A B
PROFILE_ROUND=null
log "warm-up: gatehouse ${WARMUP}s"
run_gatehouse 0 "$WARMUP" 0
for round in $(seq 1 "$ROUNDS"); do
  run_ceiling "$round" "$DURATION" 1
  run_gatehouse "$round" "$DURATION" 1
done
if [ "$BENCH_PROFILE" = 1 ]; then
  log "profile: one more Gatehouse round of ${DURATION}s under perf record"
  run_gatehouse P "$DURATION" profile
fi
sleep "$RSS_SETTLE_S"
GH_AFTER_KB=$(rss_kb "$GH_PID"); GH_HWM_KB=$(hwm_kb "$GH_PID")
if grep -v xmlSecTransformXsltInitialize "$WORK/gatehouse/server.log" | grep -qiE 'panic|error'; then
  log "gatehouse server log has errors:"; grep -v xmlSecTransformXsltInitialize "$WORK/gatehouse/server.log" | grep -iE 'panic|error' | head -n 20 >&2
fi

# ---------------------------------------------------------------- summary
GH_VERSION=$("$GATEHOUSE_BIN" --version 2>/dev/null || echo "")
SUMMARY=$(jq -n \
  --slurpfile rounds "$RESULTS" --argjson setup "$SETUP" --argjson backend "$(bench_backend_json)" \
  --argjson profile "$(bench_profile_json)" --argjson profile_round "$PROFILE_ROUND" \
  --arg mode "$MODE" --argjson rounds_n "$ROUNDS" --argjson duration "$DURATION" --argjson warmup "$WARMUP" \
  --argjson vus "$VUS" --argjson users "$USERS" --argjson nproc "$NPROC" \
  --argjson load_before "$LOADAVG_BEFORE" --argjson load_after "$(cut -d' ' -f1 /proc/loadavg)" \
  --arg node "$(node --version)" --arg ghbin "$GATEHOUSE_BIN" --arg ghver "$GH_VERSION" --arg argon2 "$ARGON2_VERSION" \
  --argjson gh_idle "$GH_IDLE_KB" --argjson gh_after "$GH_AFTER_KB" --argjson gh_hwm "$GH_HWM_KB" '
  def median: map(select(. != null)) | sort | if length == 0 then null elif length % 2 == 1 then .[length/2|floor]
              else (.[length/2 - 1] + .[length/2]) / 2 end;
  def r1: if . == null then null else (. * 10 | round) / 10 end;
  def r2: if . == null then null else (. * 100 | round) / 100 end;
  def r3: if . == null then null else (. * 1000 | round) / 1000 end;
  def mb: if . == null then null else . / 1024 | r1 end;
  [$rounds[] | select(.side == "ceiling")] as $c
  | [$rounds[] | select(.side == "gatehouse")] as $g
  | { hashes_per_s_median: ([$c[].hashes_per_s] | median | r1),
      cpu_ms_per_hash_median: ([$c[].cpu_ms_per_hash] | median | r2),
      cores_median: ([$c[].cores] | median | r2),
      processes: $nproc, argon2_crate: $argon2, parameters: "argon2id v=19 m=19456 KiB t=2 p=1 (Argon2::default())",
      operation: "PasswordHash::new + verify_password of a stored hash, as a sign-in does",
      hashes_per_s_each: [$c[].hashes_per_s], cpu_ms_per_hash_each: [$c[].cpu_ms_per_hash] } as $ceiling
  | { flows_per_s_median: ([$g[].flows_per_s] | median | r1),
      p50_ms_median: ([$g[].p50_ms] | median | r2),
      p99_ms_median: ([$g[].p99_ms] | median | r2),
      cores_median: ([$g[].cpu.cores] | median | r2),
      cpu_ms_per_flow_median: ([$g[].cpu.cpu_ms_per_flow] | median | r2),
      driver_cores_median: ([$g[].driver_cores] | median | r2),
      flows: ([$g[].flows] | add), errors: ([$g[].errors] | add),
      rss_idle_mb: ($gh_idle | mb), rss_peak_mb: ([$g[].cpu.rss_peak_kb] | max | mb),
      rss_after_mb: ($gh_after | mb), vm_hwm_mb: ($gh_hwm | mb),
      flows_per_s_each: [$g[].flows_per_s], p50_ms_each: [$g[].p50_ms], p99_ms_each: [$g[].p99_ms],
      cores_each: [$g[].cpu.cores], cpu_ms_per_flow_each: [$g[].cpu.cpu_ms_per_flow] } as $gh
  | { benchmark: "password-sign-in",
      mode: $mode,
      settings: { rounds: $rounds_n, duration_s: $duration, warmup_s: $warmup, vus: $vus, users: $users, backend: $backend },
      machine: { nproc: $nproc, node: $node, loadavg_1m_before: $load_before, loadavg_1m_after: $load_after },
      gatehouse: { bin: $ghbin, version: $ghver },
      checks: ($setup | del(.ok)),
      ceiling: $ceiling,
      results: { gatehouse: $gh,
                 fraction_of_ceiling: (if $ceiling.hashes_per_s_median then ($gh.flows_per_s_median / $ceiling.hashes_per_s_median | r3) else null end),
                 fraction_of_ceiling_each: [range(0; [$g, $c] | map(length) | min) | ($g[.].flows_per_s / $c[.].hashes_per_s | r3)],
                 cpu_per_flow_over_cpu_per_hash: (if $ceiling.cpu_ms_per_hash_median then ($gh.cpu_ms_per_flow_median / $ceiling.cpu_ms_per_hash_median | r2) else null end) },
      profile: (if $profile == null then null else $profile + { round_figures: $profile_round } end) }')

mkdir -p "$(dirname "$BENCH_OUT")"
printf '%s\n' "$SUMMARY" > "$BENCH_OUT"

{
  echo
  echo "Password sign-in benchmark ($MODE, $BENCH_BACKEND): $VUS virtual users, $USERS members, $ROUNDS x ${DURATION}s per side, ceiling and Gatehouse alternated, medians"
  printf '%-22s %9s %10s %8s %8s %6s %13s %9s %9s\n' side "per s" "% ceiling" "p50 ms" "p99 ms" cores "CPU ms / op" "RSS idle" "RSS peak"
  jq -r '
    def f: if . == null then "-" else tostring end;
    (.results.gatehouse as $g | ["Gatehouse flows", ($g.flows_per_s_median | f), "\((.results.fraction_of_ceiling // 0) * 1000 | round / 10)%",
      ($g.p50_ms_median | f), ($g.p99_ms_median | f), ($g.cores_median | f), ($g.cpu_ms_per_flow_median | f),
      "\($g.rss_idle_mb) MB", "\($g.rss_peak_mb) MB"] | @tsv),
    (.ceiling as $c | ["argon2id x\($c.processes) (hashes)", ($c.hashes_per_s_median | f), "100%", "-", "-", ($c.cores_median | f), ($c.cpu_ms_per_hash_median | f), "-", "-"] | @tsv)' \
    <<<"$SUMMARY" | awk -F'\t' '{printf "%-22s %9s %10s %8s %8s %6s %13s %9s %9s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}'
  jq -r '"per round: flows/s \(.results.gatehouse.flows_per_s_each | map(tostring) | join(" / ")), ceiling hashes/s \(.ceiling.hashes_per_s_each | map(tostring) | join(" / ")), fraction \(.results.fraction_of_ceiling_each | map(tostring) | join(" / "))",
         "CPU per flow / CPU per hash: x\(.results.cpu_per_flow_over_cpu_per_hash) (1.0 = a flow costs Gatehouse exactly one argon2id hash); driver \(.results.gatehouse.driver_cores_median) cores",
         "RSS: idle \(.results.gatehouse.rss_idle_mb) MB, peak \(.results.gatehouse.rss_peak_mb) MB, after \(.results.gatehouse.rss_after_mb) MB, VmHWM \(.results.gatehouse.vm_hwm_mb) MB"' <<<"$SUMMARY"
  echo "took $((SECONDS - STARTED)) s; JSON: $BENCH_OUT"
} >&2
