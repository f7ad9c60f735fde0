#!/usr/bin/env bash
# Token-endpoint benchmark: Gatehouse vs oidc-provider 9, OAuth 2.0 client_credentials grant with
# RFC 9068 JWT access tokens, RS256 then ES256. Alternates the two servers A B A B under the same
# wrk load, reports medians of req/s and p99 per side, their ratio, RSS idle and peak, and the
# machine's OpenSSL signing ceiling. See conformance/bench/README.md.
#
# Usage: conformance/bench/token.sh [--smoke] [--rounds N] [--duration SECONDS]
#          [--backend sqlite|postgres] [--profile] [--help]
# Env:   GATEHOUSE_BIN (default <repo>/target/release/gatehouse; skipped with a notice if missing)
#        BENCH_OUT (JSON summary path; default a temp file), BENCH_ROUNDS (3), BENCH_DURATION (10),
#        BENCH_WARMUP (3), BENCH_CONNECTIONS (50), BENCH_THREADS (2), BENCH_ALGS ("RS256 ES256"),
#        BENCH_BACKEND (sqlite; postgres = a fresh database on 127.0.0.1:5432 + Redis, see lib.sh),
#        BENCH_PROFILE=1 (as --profile: perf record of Gatehouse during one extra round of the
#        first alg), BENCH_KEEP=1 keeps the temp dir with server logs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OP_DIR="$HERE/oidc-provider"
LUA="$HERE/token.lua"
# shellcheck source=conformance/bench/lib.sh
. "$HERE/lib.sh"

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
CONNS=${BENCH_CONNECTIONS:-50}
THREADS=${BENCH_THREADS:-2}
ALGS=${BENCH_ALGS:-"RS256 ES256"}
SPEED_SECONDS=3
MODE=full

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) MODE=smoke; ROUNDS=1; DURATION=2; WARMUP=1; SPEED_SECONDS=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --backend) BENCH_BACKEND=$2; shift ;;
    --profile) BENCH_PROFILE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

GATEHOUSE_BIN=${GATEHOUSE_BIN:-$ROOT/target/release/gatehouse}
case "$GATEHOUSE_BIN" in /*) ;; *) GATEHOUSE_BIN="$ROOT/$GATEHOUSE_BIN" ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench.XXXXXX")
BENCH_OUT=${BENCH_OUT:-$WORK.json}
RESULTS="$WORK/rounds.jsonl"
: > "$RESULTS"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup of everything we start
PIDS=()
cleanup() { bench_cleanup $?; }
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() { # stop one process we started and forget it
  local pid=$1 p keep=()
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}

# ---------------------------------------------------------------- installs (idempotent)
bench_install wrk jq curl openssl
command -v node >/dev/null || die "node is required (Node.js 20+)"

op_installed_version() { node -p 'require("./node_modules/oidc-provider/package.json").version' 2>/dev/null || true; }
op_locked_version() { node -p 'require("./package-lock.json").packages["node_modules/oidc-provider"].version'; }
(
  cd "$OP_DIR"
  if [ "$(op_installed_version)" != "$(op_locked_version)" ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm ci in $OP_DIR"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null || exit 1
  fi
) || die "npm ci"
OP_VERSION=$(cd "$OP_DIR" && op_installed_version)

# ---------------------------------------------------------------- helpers
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
CLK_TCK=$(getconf CLK_TCK)

# Poll URL until HTTP 200 while PID is alive (timeout in seconds).
wait_http_200() {
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

# Basic credentials exactly as token.lua builds them (RFC 6749 2.3.1 form-encoding, then base64).
basic_auth() {
  local id secret
  id=$(jq -rn --arg v "$1" '$v|@uri'); secret=$(jq -rn --arg v "$2" '$v|@uri')
  printf '%s:%s' "$id" "$secret" | base64 -w0
}

# One token request before any load: must be 200 with a JWT whose header alg is the expected one.
verify_token() {
  local side=$1 url=$2 id=$3 secret=$4 alg=$5 body="$WORK/verify-$1-$5.json" code token header
  code=$(curl -s -o "$body" -w '%{http_code}' --max-time 10 -X POST "$url" \
    -H "Authorization: Basic $(basic_auth "$id" "$secret")" \
    -H 'Content-Type: application/x-www-form-urlencoded' --data 'grant_type=client_credentials' || true)
  [ "$code" = 200 ] || { cat "$body" >&2 2>/dev/null; die "$side $alg: token request returned HTTP $code"; }
  token=$(jq -r '.access_token // empty' "$body") || die "$side $alg: token response is not JSON"
  [ "$(jq -r '.token_type // empty | ascii_downcase' "$body")" = bearer ] || die "$side $alg: token_type is not Bearer"
  [ "$(tr -cd . <<<"$token" | wc -c)" = 2 ] || die "$side $alg: access_token is not a JWS compact JWT"
  header=$(node -e 'console.log(Buffer.from(process.argv[1].split(".")[0],"base64url").toString())' "$token")
  [ "$(jq -r .alg <<<"$header")" = "$alg" ] || die "$side $alg: JWT header alg is $(jq -r .alg <<<"$header"), want $alg"
  [ "$(jq -r '.typ // empty' <<<"$header")" = "at+jwt" ] || log "note: $side $alg JWT typ is '$(jq -r '.typ // empty' <<<"$header")', RFC 9068 wants at+jwt"
  log "$side $alg: token OK (header $(jq -c . <<<"$header"))"
}

# Run wrk for DURATION seconds against one side; sample RSS while it runs; append a JSON record.
run_load() { # side alg round url id secret pid seconds record(0|1|profile)
  local side=$1 alg=$2 round=$3 url=$4 id=$5 secret=$6 pid=$7 secs=$8 record=$9
  local out="$WORK/wrk-$side-$alg-$round.txt" samples="$WORK/rss-$side-$alg-$round.txt" sampler t0 t1 json peak cores
  ( while kill -0 "$pid" 2>/dev/null; do rss_kb "$pid"; sleep 0.2; done ) > "$samples" &
  sampler=$!
  [ "$record" = profile ] && bench_profile_start "$pid"
  t0=$(cpu_ticks "$pid")
  TOKEN_URL=$url CLIENT_ID=$id CLIENT_SECRET=$secret \
    wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --timeout 5s --latency -s "$LUA" "$url" > "$out" 2>&1 \
    || { kill "$sampler" 2>/dev/null; cat "$out" >&2; die "wrk failed against $side $alg"; }
  t1=$(cpu_ticks "$pid")
  [ "$record" = profile ] && bench_profile_stop "$alg, one extra round after the recorded ones (not in the medians)"
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  kill -0 "$pid" 2>/dev/null || die "$side died under load ($alg)"
  json=$(sed -n 's/^WRKJSON //p' "$out")
  [ -n "$json" ] || { cat "$out" >&2; die "no wrk summary for $side $alg"; }
  peak=$(sort -n "$samples" | tail -n1); peak=${peak:-0}
  cores=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" -v d="$(jq .duration_s <<<"$json")" 'BEGIN{printf "%.3f", (b-a)/hz/d}')
  json=$(jq -c --argjson cores "$cores" '. + {cpu_ms_per_request: (if .rps > 0 then ($cores * 1000 / .rps * 1000 | round / 1000) else null end)}' <<<"$json")
  cores=$(printf '%.2f' "$cores")
  if [ "$record" = 1 ]; then
    jq -c --arg side "$side" --arg alg "$alg" --argjson round "$round" --argjson peak "$peak" --argjson cores "$cores" \
      '. + {side:$side, alg:$alg, round:$round, rss_peak_kb:$peak, cpu_cores:$cores}' <<<"$json" >> "$RESULTS"
  elif [ "$record" = profile ]; then
    PROFILE_ROUND=$(jq -c --arg side "$side" --arg alg "$alg" --argjson cores "$cores" '. + {side:$side, alg:$alg, cpu_cores:$cores}' <<<"$json")
  fi
  if [ "$record" != 0 ]; then
    log "$(printf '%-13s %s round %s: %8.1f req/s  p99 %7.2f ms  cpu %s cores = %s ms per request  rss peak %d MB  errors %s' \
      "$side" "$alg" "$round" "$(jq .rps <<<"$json")" "$(jq .p99_ms <<<"$json")" "$cores" "$(jq .cpu_ms_per_request <<<"$json")" \
      $((peak / 1024)) "$(jq -c '[.errors[]]|add' <<<"$json")")"
  fi
  return 0
}
PROFILE_ROUND=null

# ---------------------------------------------------------------- machine ceiling (nothing else running)
log "mode=$MODE backend=$BENCH_BACKEND profile=$BENCH_PROFILE rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s connections=$CONNS wrk-threads=$THREADS algs='$ALGS'"
log "openssl speed -seconds $SPEED_SECONDS -multi 2 (rsa2048, ecdsap256)"
speed() { # prints "sign/s verify/s" from the summed machine-readable line
  openssl speed -seconds "$SPEED_SECONDS" -multi 2 -mr "$1" 2>/dev/null \
    | awk -F: -v tag="$2" '$1==tag {s=$4; v=$5} END {printf "%.0f %.0f\n", s, v}'
}
read -r RSA_SIGN RSA_VERIFY < <(speed rsa2048 +F2)
read -r EC_SIGN EC_VERIFY < <(speed ecdsap256 +F4)
# One signature's CPU: a single `openssl speed` process divides by its CPU user time (with -multi
# the children count wall time, which the box's neighbours move), so 1000 / its sign/s is CPU
# milliseconds per signature. Measured before any server starts and again before every round;
# the reported figure is the median.
SPEEDS="$WORK/speeds.jsonl"; : > "$SPEEDS"
speed_alg() { # alg: one process, CPU time; appends to SPEEDS
  local s
  if [ "$1" = RS256 ]; then s=$(openssl speed -seconds "$SPEED_SECONDS" -mr rsa2048 2>/dev/null | awk -F: '$1=="+F2" {print $4}')
  else s=$(openssl speed -seconds "$SPEED_SECONDS" -mr ecdsap256 2>/dev/null | awk -F: '$1=="+F4" {print $4}'); fi
  [ -n "$s" ] || die "openssl speed printed no figure for $1"
  jq -nc --arg alg "$1" --argjson s "$s" '{alg: $alg, sign_per_cpu_s: $s, ms_cpu_per_sign: (1000 / $s)}' >> "$SPEEDS"
}
for alg in $ALGS; do speed_alg "$alg"; done
log "ceiling: RSA-2048 $RSA_SIGN sign/s, P-256 $EC_SIGN sign/s (2 processes); CPU per signature (1 process): $(jq -sr 'map("\(.alg) \(.ms_cpu_per_sign * 10000 | round / 10000) ms") | join(", ")' "$SPEEDS")"

# ---------------------------------------------------------------- Gatehouse (once, both apps)
GH_ENABLED=0; GH_PID=""; GH_IDLE_KB=0
declare -A GH_ID GH_SECRET
if [ -x "$GATEHOUSE_BIN" ]; then
  GH_ENABLED=1
  bench_backend_init token
  GH_PORT=$(free_port)
  export GATEHOUSE_DATA_DIR="$WORK/gatehouse/data" GATEHOUSE_KEYS_DIR="$WORK/gatehouse/keys"
  export GATEHOUSE_LISTEN="127.0.0.1:$GH_PORT" GATEHOUSE_PUBLIC_URL="http://127.0.0.1:$GH_PORT"
  export RUST_LOG=${RUST_LOG:-warn}
  mkdir -p "$GATEHOUSE_DATA_DIR" "$GATEHOUSE_KEYS_DIR"
  # Gatehouse is run from its temp dir so that no gatehouse.toml in the caller's cwd is picked up;
  # other GATEHOUSE_* settings in the caller's env (database, Redis) are passed through on purpose.
  gh_cli() { # runs the CLI, prints its stdout JSON (last JSON line if it also prints text)
    local out="$WORK/gatehouse/cli-$RANDOM.out"
    (cd "$WORK/gatehouse" && exec "$GATEHOUSE_BIN" "$@") > "$out" 2> "$out.err" \
      || { cat "$out" "$out.err" >&2; die "gatehouse $*"; }
    local json
    if jq -e 'type == "object"' "$out" >/dev/null 2>&1; then json=$(jq -c . "$out")
    else json=$(grep '^{' "$out" | tail -n1 || true); fi
    [ -n "$json" ] && jq -e 'type == "object"' >/dev/null 2>&1 <<<"$json" \
      || { cat "$out" "$out.err" >&2; die "gatehouse $* printed no JSON object"; }
    printf '%s\n' "$json"
  }
  log "gatehouse: provisioning tenant and apps with $GATEHOUSE_BIN"
  gh_cli migrate >/dev/null   # administration commands need an existing database
  TENANT=$(gh_cli tenant create --slug bench --name Bench)
  GH_ISSUER=$(jq -er .issuer <<<"$TENANT") || die "tenant create printed no issuer: $TENANT"
  for alg in $ALGS; do
    app=$(gh_cli app create --tenant bench --name "cc-${alg,,}" --grant client_credentials --signing-alg "$alg")
    GH_ID[$alg]=$(jq -er .client_id <<<"$app") || die "app create printed no client_id: $app"
    GH_SECRET[$alg]=$(jq -er .client_secret <<<"$app") || die "app create printed no client_secret"
  done
  (cd "$WORK/gatehouse" && exec "$GATEHOUSE_BIN" serve) > "$WORK/gatehouse/server.log" 2>&1 &
  GH_PID=$!; PIDS+=("$GH_PID")
  wait_http_200 "http://127.0.0.1:$GH_PORT/healthz" "$GH_PID" 30 "$WORK/gatehouse/server.log" \
    || die "gatehouse did not come up on 127.0.0.1:$GH_PORT"
  GH_TOKEN_URL=$(curl -sf --max-time 5 "$GH_ISSUER/.well-known/openid-configuration" | jq -r '.token_endpoint // empty' || true)
  if [ -z "$GH_TOKEN_URL" ]; then
    GH_TOKEN_URL="$GH_ISSUER/oauth2/token"
    log "note: no token_endpoint from $GH_ISSUER/.well-known/openid-configuration; using $GH_TOKEN_URL"
  fi
  case "$GH_TOKEN_URL" in http://127.0.0.1:*) ;; *) die "gatehouse token endpoint $GH_TOKEN_URL is not on 127.0.0.1";; esac
  for alg in $ALGS; do verify_token gatehouse "$GH_TOKEN_URL" "${GH_ID[$alg]}" "${GH_SECRET[$alg]}" "$alg"; done
  sleep 1
  GH_IDLE_KB=$(rss_kb "$GH_PID")
  log "gatehouse: up (pid $GH_PID), token endpoint $GH_TOKEN_URL, idle RSS $((GH_IDLE_KB / 1024)) MB"
else
  log "NOTICE: no Gatehouse binary at $GATEHOUSE_BIN (build with 'cargo build --release' or set GATEHOUSE_BIN); running the oidc-provider half only"
fi

# ---------------------------------------------------------------- per algorithm: oidc-provider + A B A B
OP_ID=bench
OP_SECRET=$(head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')
SIDES_JSON="$WORK/sides.jsonl"; : > "$SIDES_JSON"
for alg in $ALGS; do
  OP_PORT=$(free_port)
  log "oidc-provider $OP_VERSION $alg: starting on 127.0.0.1:$OP_PORT"
  (cd "$OP_DIR" && exec env NODE_ENV=production PORT="$OP_PORT" BENCH_ALG="$alg" \
     BENCH_CLIENT_ID="$OP_ID" BENCH_CLIENT_SECRET="$OP_SECRET" node server.mjs) > "$WORK/op-$alg.log" 2>&1 &
  OP_PID=$!; PIDS+=("$OP_PID")
  wait_http_200 "http://127.0.0.1:$OP_PORT/.well-known/openid-configuration" "$OP_PID" 30 "$WORK/op-$alg.log" \
    || die "oidc-provider did not come up on 127.0.0.1:$OP_PORT"
  OP_TOKEN_URL=$(curl -sf "http://127.0.0.1:$OP_PORT/.well-known/openid-configuration" | jq -er .token_endpoint) \
    || die "oidc-provider discovery has no token_endpoint"
  verify_token oidc-provider "$OP_TOKEN_URL" "$OP_ID" "$OP_SECRET" "$alg"
  sleep 1
  OP_IDLE_KB=$(rss_kb "$OP_PID")
  log "oidc-provider $alg: up (pid $OP_PID), idle RSS $((OP_IDLE_KB / 1024)) MB"

  # side list in A B order; each side: name url id secret pid
  sides=()
  [ "$GH_ENABLED" = 1 ] && sides+=("gatehouse|$GH_TOKEN_URL|${GH_ID[$alg]}|${GH_SECRET[$alg]}|$GH_PID")
  sides+=("oidc-provider|$OP_TOKEN_URL|$OP_ID|$OP_SECRET|$OP_PID")

  for s in "${sides[@]}"; do
    IFS='|' read -r name url id secret pid <<<"$s"
    log "$name $alg: warm-up ${WARMUP}s"
    run_load "$name" "$alg" 0 "$url" "$id" "$secret" "$pid" "$WARMUP" 0
  done
  for round in $(seq 1 "$ROUNDS"); do
    speed_alg "$alg"
    for s in "${sides[@]}"; do
      IFS='|' read -r name url id secret pid <<<"$s"
      run_load "$name" "$alg" "$round" "$url" "$id" "$secret" "$pid" "$DURATION" 1
    done
  done
  if [ "$BENCH_PROFILE" = 1 ] && [ "$GH_ENABLED" = 1 ] && [ "$PROFILE_ROUND" = null ]; then
    log "gatehouse $alg: one more round of ${DURATION}s under perf record"
    run_load gatehouse "$alg" P "$GH_TOKEN_URL" "${GH_ID[$alg]}" "${GH_SECRET[$alg]}" "$GH_PID" "$DURATION" profile
  fi

  sleep 1
  jq -nc --arg side oidc-provider --arg alg "$alg" --argjson idle "$OP_IDLE_KB" \
    --argjson after "$(rss_kb "$OP_PID")" --argjson hwm "$(hwm_kb "$OP_PID")" \
    '{side:$side, alg:$alg, rss_idle_kb:$idle, rss_after_kb:$after, vm_hwm_kb:$hwm}' >> "$SIDES_JSON"
  if [ "$GH_ENABLED" = 1 ]; then
    jq -nc --arg side gatehouse --arg alg "$alg" --argjson idle "$GH_IDLE_KB" \
      --argjson after "$(rss_kb "$GH_PID")" --argjson hwm "$(hwm_kb "$GH_PID")" \
      '{side:$side, alg:$alg, rss_idle_kb:$idle, rss_after_kb:$after, vm_hwm_kb:$hwm}' >> "$SIDES_JSON"
  fi
  stop_pid "$OP_PID"
done

# ---------------------------------------------------------------- summary
SUMMARY=$(jq -n \
  --slurpfile rounds "$RESULTS" --slurpfile sides "$SIDES_JSON" --slurpfile speeds "$SPEEDS" \
  --arg mode "$MODE" --argjson rounds_n "$ROUNDS" --argjson duration "$DURATION" --argjson warmup "$WARMUP" \
  --argjson conns "$CONNS" --argjson threads "$THREADS" --argjson nproc "$(nproc)" \
  --arg node "$(node --version)" --arg op "$OP_VERSION" --arg wrk "$(wrk -v 2>&1 | head -n1 | awk '{print $2}')" \
  --arg openssl "$(openssl version | awk '{print $2}')" --arg ghbin "$GATEHOUSE_BIN" --argjson gh "$GH_ENABLED" \
  --argjson rsa_sign "$RSA_SIGN" --argjson rsa_verify "$RSA_VERIFY" --argjson ec_sign "$EC_SIGN" --argjson ec_verify "$EC_VERIFY" \
  --argjson backend "$(if [ "$GH_ENABLED" = 1 ]; then bench_backend_json; else echo null; fi)" \
  --argjson profile "$(bench_profile_json)" --argjson profile_round "$PROFILE_ROUND" '
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length/2|floor]
              else (.[length/2 - 1] + .[length/2]) / 2 end;
  def r1: if . == null then null else (. * 10 | round) / 10 end;
  def r2: if . == null then null else (. * 100 | round) / 100 end;
  def r3: if . == null then null else (. * 1000 | round) / 1000 end;
  def r4: if . == null then null else (. * 10000 | round) / 10000 end;
  def ms_sign($alg): [$speeds[] | select(.alg == $alg) | .ms_cpu_per_sign] | median | r4;
  def side($alg; $side):
    [$rounds[] | select(.alg == $alg and .side == $side)] as $r
    | ([$sides[] | select(.alg == $alg and .side == $side)][0] // {}) as $m
    | if ($r | length) == 0 then null else
      { rounds: ($r | length),
        rps_median: ([$r[].rps] | median | r1),
        p99_ms_median: ([$r[].p99_ms] | median | r2),
        p50_ms_median: ([$r[].p50_ms] | median | r2),
        cpu_cores_median: ([$r[].cpu_cores] | median | r2),
        cpu_ms_per_request_median: ([$r[].cpu_ms_per_request] | median | r3),
        rss_idle_mb: (($m.rss_idle_kb // 0) / 1024 | r1),
        rss_peak_mb: ([$r[].rss_peak_kb] | max / 1024 | r1),
        rss_after_mb: (($m.rss_after_kb // 0) / 1024 | r1),
        vm_hwm_mb: (($m.vm_hwm_kb // 0) / 1024 | r1),
        errors: ([$r[].errors[]] | add),
        rps_each: [$r[].rps], p99_ms_each: [$r[].p99_ms], cpu_ms_per_request_each: [$r[].cpu_ms_per_request] } end;
  { benchmark: "token-client_credentials-jwt",
    mode: $mode,
    settings: { rounds: $rounds_n, duration_s: $duration, warmup_s: $warmup, connections: $conns, wrk_threads: $threads, backend: $backend },
    machine: { nproc: $nproc, node: $node, oidc_provider: $op, wrk: $wrk, openssl: $openssl },
    gatehouse: { bin: $ghbin, ran: ($gh == 1) },
    ceiling: { rsa2048_sign_per_s: $rsa_sign, rsa2048_verify_per_s: $rsa_verify,
               ecdsap256_sign_per_s: $ec_sign, ecdsap256_verify_per_s: $ec_verify, processes: 2,
               rsa2048_ms_cpu_per_sign: ms_sign("RS256"), ecdsap256_ms_cpu_per_sign: ms_sign("ES256"),
               ms_cpu_per_sign_each: ($speeds | group_by(.alg) | map({key: .[0].alg, value: map(.ms_cpu_per_sign | r4)}) | from_entries),
               note: "sign/s: openssl speed -multi 2 (wall time, both cores) before any server starts; ms CPU per signature: one openssl speed process (CPU user time), median of a measurement before the servers and one before every round" },
    profile: (if $profile == null then null else $profile + { round_figures: $profile_round } end),
    results: ([$rounds[].alg] | unique | map(. as $alg |
      { key: $alg, value:
        ( { gatehouse: side($alg; "gatehouse"), oidc_provider: side($alg; "oidc-provider"),
            sign_ceiling_per_s: (if $alg == "RS256" then $rsa_sign else $ec_sign end),
            ms_cpu_per_sign: ms_sign($alg) }
          | .ratio_rps_gatehouse_over_op =
              (if .gatehouse and .oidc_provider then (.gatehouse.rps_median / .oidc_provider.rps_median | r2) else null end)
          | .ratio_p99_gatehouse_over_op =
              (if .gatehouse and .oidc_provider then (.gatehouse.p99_ms_median / .oidc_provider.p99_ms_median | r2) else null end)
          | .gatehouse_fraction_of_ceiling =
              (if .gatehouse then (.gatehouse.rps_median / .sign_ceiling_per_s | r2) else null end)
          | .op_fraction_of_ceiling = (.oidc_provider.rps_median / .sign_ceiling_per_s | r2)
          | .gatehouse_cpu_per_request_over_sign =
              (if .gatehouse.cpu_ms_per_request_median and .ms_cpu_per_sign then (.gatehouse.cpu_ms_per_request_median / .ms_cpu_per_sign | r2) else null end)
          | .op_cpu_per_request_over_sign =
              (if .oidc_provider.cpu_ms_per_request_median and .ms_cpu_per_sign then (.oidc_provider.cpu_ms_per_request_median / .ms_cpu_per_sign | r2) else null end) ) }) | from_entries) }')

mkdir -p "$(dirname "$BENCH_OUT")"
printf '%s\n' "$SUMMARY" > "$BENCH_OUT"

{
  echo
  echo "Token endpoint benchmark ($MODE, Gatehouse on $BENCH_BACKEND): client_credentials, JWT access token, wrk -t$THREADS -c$CONNS, $ROUNDS x ${DURATION}s per side, A B A B, medians"
  printf '%-6s %-14s %10s %9s %9s %6s %8s %7s %9s %9s %7s %10s\n' alg side "req/s" "p99 ms" "p50 ms" cores "ms CPU" "x sign" "RSS idle" "RSS peak" errors "% ceiling"
  jq -r --argjson order "$(jq -nc --arg a "$ALGS" '$a | split(" ") | map(select(. != ""))')" '
    $order[] as $alg | .results[$alg] // empty | . as $v
    | ([["gatehouse", $v.gatehouse], ["oidc-provider", $v.oidc_provider]][] | select(.[1] != null)
       | [$alg, .[0], .[1].rps_median, .[1].p99_ms_median, .[1].p50_ms_median, .[1].cpu_cores_median,
          .[1].cpu_ms_per_request_median, "x\((.[1].cpu_ms_per_request_median / $v.ms_cpu_per_sign * 100 | round) / 100)",
          "\(.[1].rss_idle_mb) MB", "\(.[1].rss_peak_mb) MB", .[1].errors,
          "\((.[1].rps_median / $v.sign_ceiling_per_s * 1000 | round) / 10)%"] | @tsv),
      (select($v.ratio_rps_gatehouse_over_op != null)
       | ["", "GH/OP ratio", "x\($v.ratio_rps_gatehouse_over_op)", "x\($v.ratio_p99_gatehouse_over_op)", "", "", "", "", "", "", "", ""] | @tsv)' \
    <<<"$SUMMARY" | awk -F'\t' '{printf "%-6s %-14s %10s %9s %9s %6s %8s %7s %9s %9s %7s %10s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12}'
  jq -r '.ceiling | "ceiling: openssl speed -multi 2: RSA-2048 \(.rsa2048_sign_per_s) sign/s, ECDSA P-256 \(.ecdsap256_sign_per_s) sign/s; one signature (1 process, CPU time, median of \(.ms_cpu_per_sign_each | map(length) | max) runs): RSA-2048 \(.rsa2048_ms_cpu_per_sign) ms, P-256 \(.ecdsap256_ms_cpu_per_sign) ms"' <<<"$SUMMARY"
  echo "ms CPU = server CPU milliseconds per token request (cores / req/s); x sign = that / one signature's CPU (1.0 = nothing but the signature)"
  [ "$GH_ENABLED" = 1 ] || echo "Gatehouse: skipped (no binary at $GATEHOUSE_BIN)"
  echo "JSON: $BENCH_OUT"
} >&2

# Non-2xx answers under load mean a broken run, not a slow one.
bad=$(jq '[.results[][] | objects | .errors? // 0] | add // 0' <<<"$SUMMARY")
[ "$bad" = 0 ] || die "$bad errors (non-2xx, socket errors or timeouts) during the load; see $WORK"
