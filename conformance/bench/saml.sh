#!/usr/bin/env bash
# SAML SSO benchmark: signed SAML Responses per second, Gatehouse's SSO endpoint (HTTP-Redirect
# AuthnRequest in, HTML page with a freshly signed SAMLResponse out, signed-in session) under wrk
# vs samlify 2's idp.createLoginResponse in-process, 1 and 2 worker processes. Alternates the sides
# A B C A B C, reports medians, the ratio Gatehouse / best samlify, Gatehouse p99, RSS and the
# machine's RSA-2048 signing ceiling. Variants: assertion signed; assertion and Response signed.
#
# Usage: conformance/bench/saml.sh [--smoke] [--rounds N] [--duration SECONDS]
#          [--backend sqlite|postgres] [--profile] [--help]
# Env:   GATEHOUSE_BIN (default <repo>/target/release/gatehouse; skipped with a notice if missing)
#        BENCH_OUT (JSON summary path; default a temp file), BENCH_ROUNDS (3), BENCH_DURATION (10),
#        BENCH_WARMUP (3), BENCH_SAMLIFY_WARMUP (2), BENCH_CONNECTIONS (50), BENCH_THREADS (2),
#        BENCH_VARIANTS ("assertion response"), BENCH_SAMLIFY_PROCS ("1 2"), BENCH_CONCURRENT_CHECK (40
#        responses fetched beside the warm-up load and verified), BENCH_BACKEND (sqlite; postgres:
#        a fresh database on 127.0.0.1:5432 + Redis, see lib.sh), BENCH_PROFILE=1 (as --profile:
#        perf record of Gatehouse during one extra round of the first variant), BENCH_KEEP=1.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SL_DIR="$HERE/samlify"
BENCHJS="$SL_DIR/bench.js"
LUA="$HERE/saml.lua"
# shellcheck source=conformance/bench/lib.sh
. "$HERE/lib.sh"

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-3}
SL_WARMUP=${BENCH_SAMLIFY_WARMUP:-2}
CONNS=${BENCH_CONNECTIONS:-50}
THREADS=${BENCH_THREADS:-2}
VARIANTS=${BENCH_VARIANTS:-"assertion response"}
SL_PROCS=${BENCH_SAMLIFY_PROCS:-"1 2"}
CONCURRENT_CHECK=${BENCH_CONCURRENT_CHECK:-40}
SPEED_SECONDS=3
MODE=full
# The issue's targets: >= 4x samlify in one process, >= 2x samlify on both cores.
TARGET_1PROC=4
TARGET_2PROC=2

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) MODE=smoke; ROUNDS=1; DURATION=2; WARMUP=1; SL_WARMUP=1; SPEED_SECONDS=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --backend) BENCH_BACKEND=$2; shift ;;
    --profile) BENCH_PROFILE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for v in $VARIANTS; do
  case "$v" in assertion|response) ;; *) echo "unknown variant '$v' in BENCH_VARIANTS (assertion, response)" >&2; exit 2 ;; esac
done

GATEHOUSE_BIN=${GATEHOUSE_BIN:-$ROOT/target/release/gatehouse}
case "$GATEHOUSE_BIN" in /*) ;; *) GATEHOUSE_BIN="$ROOT/$GATEHOUSE_BIN" ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-saml-bench.XXXXXX")
BENCH_OUT=${BENCH_OUT:-$WORK.json}
RESULTS="$WORK/rounds.jsonl"
CHECKS="$WORK/checks.jsonl"
: > "$RESULTS"; : > "$CHECKS"

log() { printf '[saml-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup of everything we start
PIDS=()
cleanup() { bench_cleanup $?; }
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() { # a process we started has ended: drop it from the cleanup list
  local p keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}

# ---------------------------------------------------------------- installs (idempotent)
bench_install wrk jq curl openssl
command -v node >/dev/null || die "node is required (Node.js 20+)"

sl_installed_version() { node -p 'require("./node_modules/samlify/package.json").version' 2>/dev/null || true; }
sl_locked_version() { node -p 'require("./package-lock.json").packages["node_modules/samlify"].version'; }
(
  cd "$SL_DIR"
  if [ "$(sl_installed_version)" != "$(sl_locked_version)" ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm ci in $SL_DIR"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null || exit 1
  fi
) || die "npm ci"
SL_VERSION=$(cd "$SL_DIR" && sl_installed_version)

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

sp_entity() { if [ "$1" = response ]; then echo https://sp-signed.bench.example/metadata; else echo https://sp.bench.example/metadata; fi; }
sigs_per_response() { if [ "$1" = response ]; then echo 2; else echo 1; fi; }
sign_flag() { if [ "$1" = response ]; then echo --sign-response; fi; }
ACS=http://127.0.0.1/acs

# ---------------------------------------------------------------- machine ceiling (nothing else of ours running)
log "mode=$MODE backend=$BENCH_BACKEND profile=$BENCH_PROFILE rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s (samlify ${SL_WARMUP}s in-process) connections=$CONNS wrk-threads=$THREADS variants='$VARIANTS' samlify-procs='$SL_PROCS'"
log "openssl speed -seconds $SPEED_SECONDS -multi 2 rsa2048"
read -r RSA_SIGN RSA_VERIFY < <(openssl speed -seconds "$SPEED_SECONDS" -multi 2 -mr rsa2048 2>/dev/null \
  | awk -F: '$1=="+F2" {s=$4; v=$5} END {printf "%.0f %.0f\n", s, v}')
[ "${RSA_SIGN:-0}" -gt 0 ] 2>/dev/null || die "openssl speed rsa2048 printed no figure"
# One signature's CPU: a single openssl speed process divides by its CPU user time (the -multi
# children count wall time), so 1000 / its sign/s = CPU ms per signature; median of this and
# one measurement before every round.
SPEEDS="$WORK/speeds.txt"; : > "$SPEEDS"
speed1() {
  local s
  s=$(openssl speed -seconds "$SPEED_SECONDS" -mr rsa2048 2>/dev/null | awk -F: '$1=="+F2" {print $4}')
  [ -n "$s" ] || die "openssl speed rsa2048 (1 process) printed no figure"
  awk -v s="$s" 'BEGIN{printf "%.5f\n", 1000 / s}' >> "$SPEEDS"
}
speed1
log "ceiling: RSA-2048 $RSA_SIGN sign/s (2 processes); one signature $(cat "$SPEEDS") ms CPU (1 process)"

# ---------------------------------------------------------------- samlify: key, certificate, one checked response per variant
mkdir -p "$WORK/samlify"
SL_KEY="$WORK/samlify/idp-key.pem"; SL_CERT="$WORK/samlify/idp-cert.pem"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj /CN=samlify-bench-idp \
  -keyout "$SL_KEY" -out "$SL_CERT" >/dev/null 2>&1 || die "openssl req (samlify IdP key and certificate)"
for variant in $VARIANTS; do
  xml="$WORK/samlify/sample-$variant.xml"
  (cd "$SL_DIR" && node "$BENCHJS" sample --key "$SL_KEY" --cert "$SL_CERT" $(sign_flag "$variant")) > "$xml" \
    2> "$WORK/samlify/sample-$variant.err" || { cat "$WORK/samlify/sample-$variant.err" >&2; die "samlify $variant: createLoginResponse failed"; }
  check=$(node "$BENCHJS" verify --file "$xml" --cert "$SL_CERT" --expect-response-signed "$(( $(sigs_per_response "$variant") - 1 ))") \
    || die "samlify $variant: the response is not signed as expected (see $xml)"
  jq -c --arg side samlify --arg variant "$variant" '. + {side:$side, variant:$variant}' <<<"$check" >> "$CHECKS"
  log "samlify $SL_VERSION $variant: response OK $check"
done

# ---------------------------------------------------------------- Gatehouse: provision, serve, sign in once
GH_ENABLED=0; GH_PID=""; GH_IDLE_KB=0; COOKIE=""
if [ -x "$GATEHOUSE_BIN" ]; then
  GH_ENABLED=1
  GH_PORT=$(free_port)
  GH_URL="http://127.0.0.1:$GH_PORT"
  export GATEHOUSE_DATA_DIR="$WORK/gatehouse/data" GATEHOUSE_KEYS_DIR="$WORK/gatehouse/keys"
  export GATEHOUSE_LISTEN="127.0.0.1:$GH_PORT" GATEHOUSE_PUBLIC_URL="$GH_URL"
  export GATEHOUSE_LOG=${GATEHOUSE_LOG:-warn}
  mkdir -p "$GATEHOUSE_DATA_DIR" "$GATEHOUSE_KEYS_DIR"
  # Run from the temp dir so that no gatehouse.toml in the caller's cwd is picked up.
  gh_cli() { # [stdin] args...: runs the CLI, prints its JSON output (compacted)
    local out="$WORK/gatehouse/cli-$RANDOM.out"
    (cd "$WORK/gatehouse" && exec "$GATEHOUSE_BIN" "$@") > "$out" 2> "$out.err" \
      || { cat "$out" "$out.err" >&2; die "gatehouse $*"; }
    jq -ce 'objects' "$out" 2>/dev/null || { cat "$out" "$out.err" >&2; die "gatehouse $* printed no JSON object"; }
  }
  bench_backend_init saml
  log "gatehouse: provisioning tenant, user and SAML apps with $GATEHOUSE_BIN"
  gh_cli migrate >/dev/null   # administration commands need an existing database
  gh_cli tenant create --slug bench --name Bench >/dev/null
  # Given and family names make Gatehouse emit 9 attributes, as many as the samlify template.
  echo 'bench password 123' | gh_cli user create --tenant bench --email user@bench.example --name "Bench User" \
    --given-name Bench --family-name User --password-stdin >/dev/null
  for variant in $VARIANTS; do
    extra=(); [ "$variant" = response ] && extra=(--saml-sign-response)
    gh_cli app create --tenant bench --name "SP $variant" --saml-entity-id "$(sp_entity "$variant")" \
      --saml-acs-url "$ACS" "${extra[@]}" >/dev/null
  done
  (cd "$WORK/gatehouse" && exec "$GATEHOUSE_BIN" serve) > "$WORK/gatehouse/server.log" 2>&1 &
  GH_PID=$!; PIDS+=("$GH_PID")
  wait_http_200 "$GH_URL/healthz" "$GH_PID" 30 "$WORK/gatehouse/server.log" \
    || die "gatehouse did not come up on 127.0.0.1:$GH_PORT"
  SSO="$GH_URL/bench/saml/sso"
  curl -sf --max-time 5 "$GH_URL/bench/saml/metadata" > "$WORK/gatehouse/metadata.xml" || die "no IdP metadata at $GH_URL/bench/saml/metadata"
  # Every signing certificate of the metadata is trusted, as an SP would (it lists the next key too).
  grep -o '<ds:X509Certificate>[^<]*' "$WORK/gatehouse/metadata.xml" | sed 's/<ds:X509Certificate>//' > "$WORK/gatehouse/idp-certs.txt"
  [ -s "$WORK/gatehouse/idp-certs.txt" ] || die "no signing certificate in the IdP metadata"

  saml_request() { node "$BENCHJS" authnrequest --sso "$SSO" --acs "$ACS" --issuer "$(sp_entity "$1")"; }

  # Headless sign-in as a browser (bench.js signin, through conformance/lib/browser.mjs: Fetch
  # Metadata, and the Origin each sign-in page's referrer policy allows): SSO -> 303 login;
  # identify; password -> SAMLResponse page. It prints the session's Cookie header.
  first=${VARIANTS%% *}
  COOKIE=$(node "$BENCHJS" signin --url "$SSO?SAMLRequest=$(saml_request "$first")" --email user@bench.example \
    --password 'bench password 123' --out "$WORK/gatehouse/login3.html") || die "sign-in: see bench.js's message above"
  case "$COOKIE" in *gh_session=*) ;; *) die "sign-in: no gh_session cookie";; esac
  log "gatehouse: signed in (cookies: $(sed 's/=[^;]*/=…/g' <<<"$COOKIE"))"

  # One response per variant, with the session only (no jar writes): 200, signed as configured,
  # signatures verify against the certificate of the IdP metadata.
  for variant in $VARIANTS; do
    page="$WORK/gatehouse/verify-$variant.html"
    code=$(curl -s -o "$page" -w '%{http_code}' --max-time 10 -H "Cookie: $COOKIE" "$SSO?SAMLRequest=$(saml_request "$variant")")
    [ "$code" = 200 ] || die "gatehouse $variant: SSO with the session answered HTTP $code"
    grep -q 'name="SAMLResponse"' "$page" || die "gatehouse $variant: the SSO page holds no SAMLResponse"
    check=$(node "$BENCHJS" verify --file "$page" --cert "$WORK/gatehouse/idp-certs.txt" \
      --expect-response-signed "$(( $(sigs_per_response "$variant") - 1 ))") \
      || die "gatehouse $variant: the response is not signed as expected (see $page)"
    jq -c --arg side gatehouse --arg variant "$variant" --argjson page "$(wc -c < "$page")" \
      '. + {side:$side, variant:$variant, html_bytes:$page}' <<<"$check" >> "$CHECKS"
    log "gatehouse $variant: response OK $check"
  done
  sleep "$RSS_SETTLE_S"
  GH_IDLE_KB=$(rss_kb "$GH_PID")
  log "gatehouse: up (pid $GH_PID) on $GH_URL, idle RSS $((GH_IDLE_KB / 1024)) MB"
else
  log "NOTICE: no Gatehouse binary at $GATEHOUSE_BIN (build with 'cargo build --release' or set GATEHOUSE_BIN); running the samlify half only"
fi

# ---------------------------------------------------------------- load runners
# Gatehouse: wrk for SECS seconds with a fresh AuthnRequest (IssueInstant now); RSS sampled every 0.2 s.
run_gatehouse() { # variant round seconds record(0|1|profile)
  local variant=$1 round=$2 secs=$3 record=$4
  local out="$WORK/wrk-$variant-$round.txt" samples="$WORK/rss-gh-$variant-$round.txt" sampler t0 t1 json peak cores url
  url="$SSO?SAMLRequest=$(saml_request "$variant")"
  ( while kill -0 "$GH_PID" 2>/dev/null; do rss_kb "$GH_PID"; sleep 0.2; done ) > "$samples" &
  sampler=$!
  # During the warm-up, CONCURRENT_CHECK more responses are fetched 10 at a time beside wrk's load;
  # afterwards every one must verify and carry IDs of its own (signing under concurrency).
  local conc="$WORK/gatehouse/concurrent-$variant" checker=""
  if [ "$record" = 0 ] && [ "$CONCURRENT_CHECK" -gt 0 ]; then
    mkdir -p "$conc"
    seq 1 "$CONCURRENT_CHECK" | xargs -P 10 -I{} curl -s -o "$conc/{}.html" --max-time 30 -H "Cookie: $COOKIE" "$url" &
    checker=$!; PIDS+=("$checker")
  fi
  [ "$record" = profile ] && bench_profile_start "$GH_PID"
  t0=$(cpu_ticks "$GH_PID")
  # In the background and waited for, so that a signal stops the run at once (the trap stops wrk).
  SSO_URL=$url COOKIE=$COOKIE wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" --timeout 5s --latency -s "$LUA" "$GH_URL/" > "$out" 2>&1 &
  local wrk_pid=$!; PIDS+=("$wrk_pid")
  wait "$wrk_pid" || { kill "$sampler" 2>/dev/null; cat "$out" >&2; die "wrk failed against gatehouse ($variant)"; }
  forget_pid "$wrk_pid"
  t1=$(cpu_ticks "$GH_PID")
  [ "$record" = profile ] && bench_profile_stop "$variant, one extra round after the recorded ones (not in the medians)"
  kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
  if [ -n "$checker" ]; then
    wait "$checker" || true
    forget_pid "$checker"
    local check
    check=$(node "$BENCHJS" verify --cert "$WORK/gatehouse/idp-certs.txt" \
      --expect-response-signed "$(( $(sigs_per_response "$variant") - 1 ))" "$conc"/*.html) \
      || die "gatehouse $variant: a response fetched under load is not correctly signed (see $conc)"
    jq -c --arg variant "$variant" '{side:"gatehouse-under-load", variant:$variant} + .' <<<"$check" >> "$CHECKS"
    log "gatehouse $variant: $CONCURRENT_CHECK responses fetched under load all verify $check"
  fi
  kill -0 "$GH_PID" 2>/dev/null || { tail -n 30 "$WORK/gatehouse/server.log" >&2; die "gatehouse died under load ($variant, round $round)"; }
  json=$(sed -n 's/^WRKJSON //p' "$out")
  [ -n "$json" ] || { cat "$out" >&2; die "no wrk summary for gatehouse $variant"; }
  peak=$(sort -n "$samples" | tail -n1); peak=${peak:-0}
  cores=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" -v d="$(jq .duration_s <<<"$json")" 'BEGIN{printf "%.2f", (b-a)/hz/d}')
  if [ "$record" = profile ]; then
    PROFILE_ROUND=$(jq -c --arg variant "$variant" --argjson cores "$cores" \
      '. + {side:"gatehouse", variant:$variant, cpu_cores:$cores, cpu_ms_per_response: (if .rps > 0 then ($cores * 1000 / .rps * 100 | round / 100) else null end)}' <<<"$json")
    log "gatehouse $variant profiled round: $(jq -r '"\(.rps) resp/s, \(.cpu_cores) cores = \(.cpu_ms_per_response) ms CPU per response"' <<<"$PROFILE_ROUND")"
  elif [ "$record" = 1 ]; then
    jq -c --arg variant "$variant" --argjson round "$round" --argjson peak "$peak" --argjson cores "$cores" \
      '. + {side:"gatehouse", variant:$variant, round:$round, rss_peak_kb:$peak, cpu_cores:$cores}' <<<"$json" >> "$RESULTS"
    log "$(printf '%-14s %-9s round %d: %8.1f resp/s  p99 %7.2f ms  cpu %s cores  rss peak %d MB  errors %s' \
      gatehouse "$variant" "$round" "$(jq .rps <<<"$json")" "$(jq .p99_ms <<<"$json")" "$cores" $((peak / 1024)) \
      "$(jq -c '[.errors[]]|add' <<<"$json")")"
  elif [ "$(jq '[.errors[]]|add' <<<"$json")" != 0 ]; then
    log "gatehouse $variant warm-up had errors: $(jq -c .errors <<<"$json")"
  fi
  return 0
}
PROFILE_ROUND=null

# samlify: N worker processes building responses back to back for SECS seconds (after their own warm-up).
run_samlify() { # variant procs round seconds
  local variant=$1 procs=$2 round=$3 secs=$4 out="$WORK/samlify/run-$1-$2-$3.json" json
  (cd "$SL_DIR" && exec node "$BENCHJS" run --key "$SL_KEY" --cert "$SL_CERT" --procs "$procs" \
     --seconds "$secs" --warmup "$SL_WARMUP" $(sign_flag "$variant")) > "$out" 2> "$out.err" &
  local pid=$!; PIDS+=("$pid")
  wait "$pid" || { cat "$out.err" >&2; die "samlify $variant x$procs failed (round $round)"; }
  forget_pid "$pid"
  json=$(tail -n1 "$out")
  jq -e '.rps > 0' >/dev/null 2>&1 <<<"$json" || { cat "$out" "$out.err" >&2; die "samlify $variant x$procs printed no figure"; }
  jq -c --arg side "samlify-${procs}p" --arg variant "$variant" --argjson round "$round" \
    '. + {side:$side, variant:$variant, round:$round, errors:{}}' <<<"$json" >> "$RESULTS"
  log "$(printf '%-14s %-9s round %d: %8.1f resp/s  (%s)  cpu %s cores  rss peak %d MB' \
    "samlify x$procs" "$variant" "$round" "$(jq .rps <<<"$json")" "$(jq -c .rps_each_proc <<<"$json")" \
    "$(jq .cpu_cores <<<"$json")" $(( $(jq .rss_peak_kb <<<"$json") / 1024 )))"
}

# ---------------------------------------------------------------- per variant: A B C A B C
for variant in $VARIANTS; do
  if [ "$GH_ENABLED" = 1 ]; then
    log "gatehouse $variant: warm-up ${WARMUP}s"
    run_gatehouse "$variant" 0 "$WARMUP" 0
  fi
  for round in $(seq 1 "$ROUNDS"); do
    speed1
    [ "$GH_ENABLED" = 1 ] && run_gatehouse "$variant" "$round" "$DURATION" 1
    for procs in $SL_PROCS; do run_samlify "$variant" "$procs" "$round" "$DURATION"; done
  done
  if [ "$BENCH_PROFILE" = 1 ] && [ "$GH_ENABLED" = 1 ] && [ "$PROFILE_ROUND" = null ]; then
    log "gatehouse $variant: one more round of ${DURATION}s under perf record"
    run_gatehouse "$variant" P "$DURATION" profile
  fi
done
GH_AFTER_KB=0; GH_HWM_KB=0
if [ "$GH_ENABLED" = 1 ]; then
  sleep "$RSS_SETTLE_S"
  GH_AFTER_KB=$(rss_kb "$GH_PID"); GH_HWM_KB=$(hwm_kb "$GH_PID")
  if grep -v xmlSecTransformXsltInitialize "$WORK/gatehouse/server.log" | grep -qiE 'panic|error'; then
    log "gatehouse server log has errors:"; grep -v xmlSecTransformXsltInitialize "$WORK/gatehouse/server.log" | grep -iE 'panic|error' | head -n 20 >&2
  fi
fi

# ---------------------------------------------------------------- summary
SUMMARY=$(jq -n \
  --slurpfile rounds "$RESULTS" --slurpfile checks "$CHECKS" \
  --arg mode "$MODE" --argjson rounds_n "$ROUNDS" --argjson duration "$DURATION" --argjson warmup "$WARMUP" \
  --argjson sl_warmup "$SL_WARMUP" --argjson conns "$CONNS" --argjson threads "$THREADS" --argjson nproc "$(nproc)" \
  --arg node "$(node --version)" --arg samlify "$SL_VERSION" --arg wrk "$(wrk -v 2>&1 | head -n1 | awk '{print $2}')" \
  --arg openssl "$(openssl version | awk '{print $2}')" --arg ghbin "$GATEHOUSE_BIN" --argjson gh "$GH_ENABLED" \
  --argjson rsa_sign "$RSA_SIGN" --argjson rsa_verify "$RSA_VERIFY" --argjson target1 "$TARGET_1PROC" --argjson target2 "$TARGET_2PROC" \
  --argjson gh_idle "$GH_IDLE_KB" --argjson gh_after "$GH_AFTER_KB" --argjson gh_hwm "$GH_HWM_KB" \
  --argjson sign_ms "$(jq -sc . "$SPEEDS")" \
  --argjson backend "$(if [ "$GH_ENABLED" = 1 ]; then bench_backend_json; else echo null; fi)" \
  --argjson profile "$(bench_profile_json)" --argjson profile_round "$PROFILE_ROUND" '
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length/2|floor]
              else (.[length/2 - 1] + .[length/2]) / 2 end;
  def r1: if . == null then null else (. * 10 | round) / 10 end;
  def r2: if . == null then null else (. * 100 | round) / 100 end;
  def mb: if . == null then null else . / 1024 | r1 end;
  def side($v; $side):
    [$rounds[] | select(.variant == $v and .side == $side)] as $r
    | if ($r | length) == 0 then null else
      { rounds: ($r | length),
        rps_median: ([$r[].rps] | median | r1),
        rps_each: [$r[].rps],
        cpu_cores_median: ([$r[].cpu_cores] | median | r2),
        cpu_ms_per_response_median: ([$r[] | select(.rps > 0) | .cpu_cores * 1000 / .rps] | median | r2),
        rss_peak_mb: ([$r[].rss_peak_kb] | max | mb),
        errors: ([$r[].errors[]?] | add // 0) }
      + (if $side == "gatehouse" then
          { p99_ms_median: ([$r[].p99_ms] | median | r2), p50_ms_median: ([$r[].p50_ms] | median | r2),
            p99_ms_each: [$r[].p99_ms], requests: ([$r[].requests] | add),
            rss_idle_mb: ($gh_idle | mb), rss_after_mb: ($gh_after | mb), vm_hwm_mb: ($gh_hwm | mb) }
         else { procs: $r[0].procs, rps_each_proc_last_round: $r[-1].rps_each_proc } end) end;
  def check($v; $side): [$checks[] | select(.variant == $v and .side == $side)][0] // null;
  { benchmark: "saml-sso-signed-response",
    mode: $mode,
    settings: { rounds: $rounds_n, duration_s: $duration, warmup_s: $warmup, samlify_warmup_s: $sl_warmup,
                connections: $conns, wrk_threads: $threads, backend: $backend },
    machine: { nproc: $nproc, node: $node, samlify: $samlify, wrk: $wrk, openssl: $openssl },
    gatehouse: { bin: $ghbin, ran: ($gh == 1) },
    samlify_schema_validator: "none set: createLoginResponse never validates (only parse* calls do)",
    ceiling: { rsa2048_sign_per_s: $rsa_sign, rsa2048_verify_per_s: $rsa_verify, processes: 2,
               rsa2048_ms_cpu_per_sign: ($sign_ms | median | . * 10000 | round / 10000),
               rsa2048_ms_cpu_per_sign_each: ($sign_ms | map(. * 10000 | round / 10000)),
               note: "sign/s: openssl speed -multi 2 (wall time, both cores); ms CPU per signature: one openssl speed process (CPU user time), median of a measurement before the servers and one before every round" },
    profile: (if $profile == null then null else $profile + { round_figures: $profile_round } end),
    targets: { ratio_rps_gatehouse_over_samlify_1proc: $target1, ratio_rps_gatehouse_over_samlify_2proc: $target2 },
    results: ([$rounds[].variant] | unique | map(. as $v |
      { key: $v, value:
        ( { signatures_per_response: (if $v == "response" then 2 else 1 end),
            gatehouse: side($v; "gatehouse"),
            samlify_1proc: side($v; "samlify-1p"),
            samlify_2proc: side($v; "samlify-2p"),
            checks: { gatehouse: check($v; "gatehouse"), gatehouse_under_load: check($v; "gatehouse-under-load"),
                      samlify: check($v; "samlify") } }
          | .best_samlify = ([.samlify_1proc, .samlify_2proc] | map(select(. != null)) | max_by(.rps_median) // null
                             | if . == null then null else "samlify_\(.procs)proc" end)
          | .ratio_rps_gatehouse_over_best_samlify =
              (if .gatehouse and .best_samlify then (.gatehouse.rps_median / .[.best_samlify].rps_median | r2) else null end)
          | .ratio_rps_gatehouse_over_samlify_1proc =
              (if .gatehouse and .samlify_1proc then (.gatehouse.rps_median / .samlify_1proc.rps_median | r2) else null end)
          | .ratio_rps_gatehouse_over_samlify_2proc =
              (if .gatehouse and .samlify_2proc then (.gatehouse.rps_median / .samlify_2proc.rps_median | r2) else null end)
          | .ratio_cpu_per_response_samlify_1proc_over_gatehouse =
              (if .gatehouse and .samlify_1proc then (.samlify_1proc.cpu_ms_per_response_median / .gatehouse.cpu_ms_per_response_median | r2) else null end)
          | .target_met = ([ (.ratio_rps_gatehouse_over_samlify_1proc | if . then . >= $target1 else empty end),
                             (.ratio_rps_gatehouse_over_samlify_2proc | if . then . >= $target2 else empty end) ]
                           | if length == 0 then null else all end)
          | .gatehouse_fraction_of_ceiling =
              (if .gatehouse then (.gatehouse.rps_median * .signatures_per_response / $rsa_sign | r2) else null end)
          | .gatehouse_cpu_per_response_over_signatures =
              (if .gatehouse.cpu_ms_per_response_median then
                 (.gatehouse.cpu_ms_per_response_median / (.signatures_per_response * ($sign_ms | median)) | r2) else null end) ) }) | from_entries) }')

mkdir -p "$(dirname "$BENCH_OUT")"
printf '%s\n' "$SUMMARY" > "$BENCH_OUT"

{
  echo
  echo "SAML SSO benchmark ($MODE, Gatehouse on $BENCH_BACKEND): signed Responses/s; Gatehouse over HTTP (wrk -t$THREADS -c$CONNS, GET SSO with a session) vs samlify $SL_VERSION createLoginResponse in-process; $ROUNDS x ${DURATION}s per side, alternated, medians"
  printf '%-10s %-17s %9s %8s %6s %7s %9s %9s %7s %9s\n' variant side "resp/s" "p99 ms" cores "ms CPU" "RSS idle" "RSS peak" errors "% ceiling"
  jq -r --argjson order "$(jq -nc --arg a "$VARIANTS" '$a | split(" ") | map(select(. != ""))')" '
    def pct($x): "\(($x * 1000 | round) / 10)%";
    $order[] as $v | .results[$v] // empty | . as $r
    | ([["gatehouse", $r.gatehouse], ["samlify x1", $r.samlify_1proc], ["samlify x2", $r.samlify_2proc]][]
       | select(.[1] != null)
       | [$v, .[0], .[1].rps_median, (.[1].p99_ms_median // "-"), .[1].cpu_cores_median, .[1].cpu_ms_per_response_median,
          (if .[1].rss_idle_mb then "\(.[1].rss_idle_mb) MB" else "-" end), "\(.[1].rss_peak_mb) MB", .[1].errors,
          pct(.[1].rps_median * $r.signatures_per_response / $ceil)] | @tsv),
      (select($r.ratio_rps_gatehouse_over_best_samlify != null)
       | ["", "GH/best samlify", "x\($r.ratio_rps_gatehouse_over_best_samlify)",
          "(vs x1: x\($r.ratio_rps_gatehouse_over_samlify_1proc // "-"), vs x2: x\($r.ratio_rps_gatehouse_over_samlify_2proc // "-"); targets x\($tgt1) vs x1 and x\($tgt2) vs x2: \(if $r.target_met then "met" else "NOT met" end); CPU per response samlify x1 / GH: x\($r.ratio_cpu_per_response_samlify_1proc_over_gatehouse // "-"))",
          "", "", "", "", "", ""] | @tsv)' --argjson ceil "$RSA_SIGN" --argjson tgt1 "$TARGET_1PROC" --argjson tgt2 "$TARGET_2PROC" \
    <<<"$SUMMARY" | awk -F'\t' '$2 == "GH/best samlify" {printf "%-10s %-17s %9s  %s\n", $1, $2, $3, $4; next}
                               {printf "%-10s %-17s %9s %8s %6s %7s %9s %9s %7s %9s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10}'
  echo "ms CPU = CPU milliseconds per response (cores / resp/s): robust to a busy machine; Gatehouse's excludes wrk, includes HTTP"
  echo "RSS: Gatehouse one process (idle = after sign-in and one response per variant); samlify = sum over its worker processes"
  echo "ceiling (openssl speed -multi 2): RSA-2048 $RSA_SIGN sign/s; % ceiling = resp/s x signatures per response / that"
  jq -r '"one RSA-2048 signature: \(.ceiling.rsa2048_ms_cpu_per_sign) ms CPU (1 openssl process, median); Gatehouse CPU per response / its signatures: " + ([.results | to_entries[] | "\(.key) x\(.value.gatehouse_cpu_per_response_over_signatures // "-")"] | join(", "))' <<<"$SUMMARY"
  [ "$GH_ENABLED" = 1 ] || echo "Gatehouse: skipped (no binary at $GATEHOUSE_BIN)"
  echo "JSON: $BENCH_OUT"
} >&2

# Errors under load (non-200, no SAMLResponse in the page, socket errors, timeouts) mean a broken run.
bad=$(jq '[.results[] | (.gatehouse.errors // 0)] | add // 0' <<<"$SUMMARY")
[ "$bad" = 0 ] || die "$bad errors (non-200 or no SAMLResponse, socket errors or timeouts) during the Gatehouse load; see $WORK"
