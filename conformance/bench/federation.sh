#!/usr/bin/env bash
# Federated guest sign-in benchmark: complete sign-ins per second of an already-redeemed guest
# through Gatehouse, whose home IdP is oidc-provider 9 (flow A: Gatehouse authorize with
# login_hint -> home-realm discovery -> oidc-provider login + consent pages -> Gatehouse's partner
# callback -> code -> Gatehouse token endpoint -> ID token), against oidc-provider's own complete
# login flow for its own relying party (flow B: authorize -> login -> consent -> code -> token),
# on the same machine in the same run. A node driver (federation.mjs) runs N virtual users, each
# flow with a fresh cookie jar; sides alternate A B A B; medians of flows/s and p50/p99, the
# ratio, each server's CPU and RSS. Any failed flow fails the run. See conformance/bench/README.md.
#
# Usage: conformance/bench/federation.sh [--smoke] [--rounds N] [--duration SECONDS] [--vus N]
#          [--backend sqlite|postgres] [--profile] [--help]
# Env:   GATEHOUSE_BIN (default <repo>/target/release/gatehouse; skipped with a notice if missing)
#        BENCH_OUT (JSON summary path; default a temp file), BENCH_ROUNDS (3), BENCH_DURATION (20),
#        BENCH_WARMUP (5), BENCH_VUS (16 virtual users), BENCH_GUESTS (guests = peer accounts;
#        default BENCH_VUS), BENCH_KEEP=1 keeps the temp dir with the server logs, GATEHOUSE_LOG
#        (Gatehouse's log level, default warn), BENCH_BACKEND (sqlite; postgres: a fresh database
#        on 127.0.0.1:5432 + Redis, see lib.sh), BENCH_PROFILE=1 (as --profile: perf record of
#        Gatehouse during one extra flow-A round).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OP_DIR="$HERE/oidc-provider"
DRIVER="$HERE/federation.mjs"
# shellcheck source=conformance/bench/lib.sh
. "$HERE/lib.sh"

ROUNDS=${BENCH_ROUNDS:-3}
DURATION=${BENCH_DURATION:-20}
WARMUP=${BENCH_WARMUP:-5}
VUS=${BENCH_VUS:-16}
GUESTS=${BENCH_GUESTS:-}
MODE=full

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) MODE=smoke; ROUNDS=1; DURATION=2.5; WARMUP=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --vus) VUS=$2; shift ;;
    --backend) BENCH_BACKEND=$2; shift ;;
    --profile) BENCH_PROFILE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
GUESTS=${GUESTS:-$VUS}

GATEHOUSE_BIN=${GATEHOUSE_BIN:-$ROOT/target/release/gatehouse}
case "$GATEHOUSE_BIN" in /*) ;; *) GATEHOUSE_BIN="$ROOT/$GATEHOUSE_BIN" ;; esac

STARTED=$SECONDS
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-federation-bench.XXXXXX")
BENCH_OUT=${BENCH_OUT:-$WORK.json}
RESULTS="$WORK/rounds.jsonl"
: > "$RESULTS"

log() { printf '[federation-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup of everything we start
PIDS=()
cleanup() { bench_cleanup $? "$WORK/gatehouse/server.log" "$WORK/peer.log"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- installs (idempotent)
bench_install jq curl
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
secret() { head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='; }

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

LOADAVG_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
log "mode=$MODE backend=$BENCH_BACKEND profile=$BENCH_PROFILE rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s vus=$VUS guests=$GUESTS (load average $LOADAVG_BEFORE)"

# ---------------------------------------------------------------- Gatehouse: tenant, apps (server not yet up)
GH_ENABLED=0; GH_PID=0; GH_ISSUER=""; GH_TENANT_ID=""
SLUG="fedbench-$(date +%s)-$RANDOM"
GH_APP='{}'; GH_INVITER='{}'
APP_PORT=$(free_port) # the app's redirect URI; nothing listens there, the driver stops at the redirect
PEER_PORT=$(free_port)
PEER_ISSUER="http://127.0.0.1:$PEER_PORT"
PEER_DOMAIN="partner.bench.example"
if [ -x "$GATEHOUSE_BIN" ]; then
  GH_ENABLED=1
  bench_backend_init federation
  GH_PORT=$(free_port)
  mkdir -p "$WORK/gatehouse/data" "$WORK/gatehouse/keys"
  export GATEHOUSE_DATA_DIR="$WORK/gatehouse/data" GATEHOUSE_KEYS_DIR="$WORK/gatehouse/keys"
  export GATEHOUSE_LISTEN="127.0.0.1:$GH_PORT" GATEHOUSE_PUBLIC_URL="http://127.0.0.1:$GH_PORT"
  export GATEHOUSE_LOG=${GATEHOUSE_LOG:-warn}
  # The partner's OpenID Provider runs on loopback: Gatehouse's partner fetch guard (SSRF
  # protection) refuses private addresses unless told this is such a setup, as in
  # conformance/federation/run.sh.
  export GATEHOUSE_FEDERATION__ALLOW_PRIVATE_NETWORKS=true
  # Gatehouse runs from its temp dir so that no gatehouse.toml in the caller's cwd is picked up;
  # other GATEHOUSE_* settings in the caller's env (database, Redis) are passed through on purpose
  # (hence a unique tenant slug).
  gh_cli() { # runs the CLI (stdin passed on), prints its stdout JSON object
    local out="$WORK/gatehouse/cli-$RANDOM.out" json
    (cd "$WORK/gatehouse" && exec "$GATEHOUSE_BIN" "$@") > "$out" 2> "$out.err" \
      || { cat "$out.err" >&2; die "gatehouse $1 $2 failed"; }
    json=$(jq -c 'select(type == "object")' "$out" 2>/dev/null | tail -n1 || true)
    [ -n "$json" ] || { cat "$out.err" >&2; die "gatehouse $1 $2 printed no JSON object"; }
    printf '%s\n' "$json"
  }
  log "gatehouse: provisioning tenant $SLUG and apps with $GATEHOUSE_BIN"
  gh_cli migrate >/dev/null   # administration commands need an existing database
  TENANT=$(gh_cli tenant create --slug "$SLUG" --name "Federation Bench")
  GH_ISSUER=$(jq -er .issuer <<<"$TENANT") || die "tenant create printed no issuer"
  GH_TENANT_ID=$(jq -er .id <<<"$TENANT") || die "tenant create printed no id"
  GH_INVITER=$(gh_cli app create --tenant "$SLUG" --name "Invitation robot" --grant client_credentials \
    --permission User.Invite.All --permission User.Read.All | jq -c '{client_id, client_secret}')
  GH_APP=$(gh_cli app create --tenant "$SLUG" --name "Bench app" --redirect-uri "http://127.0.0.1:$APP_PORT/callback" \
    | jq -c '{client_id, client_secret, redirect_uri: .redirect_uris[0]}')
  jq -e '.client_id and .client_secret and .redirect_uri' >/dev/null <<<"$GH_APP" || die "app create printed no client"
else
  log "NOTICE: no Gatehouse binary at $GATEHOUSE_BIN (build with 'cargo build --release' or set GATEHOUSE_BIN); running the oidc-provider half only"
fi

# ---------------------------------------------------------------- the peer: oidc-provider 9 (login.mjs)
GH_CLIENT_ID="gatehouse-$SLUG"; GH_CLIENT_SECRET=$(secret)
RP_CLIENT_ID="bench-rp"; RP_CLIENT_SECRET=$(secret)
RP_REDIRECT_URI="http://127.0.0.1:$APP_PORT/rp/callback"
PASSWORD=$(secret)
log "oidc-provider $OP_VERSION: starting login.mjs on $PEER_ISSUER ($GUESTS accounts @$PEER_DOMAIN)"
(cd "$OP_DIR" && exec env NODE_ENV=production PORT="$PEER_PORT" BENCH_DOMAIN="$PEER_DOMAIN" BENCH_ACCOUNTS="$GUESTS" \
   BENCH_PASSWORD="$PASSWORD" BENCH_GH_CLIENT_ID="$GH_CLIENT_ID" BENCH_GH_CLIENT_SECRET="$GH_CLIENT_SECRET" \
   BENCH_GH_REDIRECT_URI="${GH_ISSUER:-http://127.0.0.1:$APP_PORT/unused}/federation/oidc/callback" \
   BENCH_RP_CLIENT_ID="$RP_CLIENT_ID" BENCH_RP_CLIENT_SECRET="$RP_CLIENT_SECRET" BENCH_RP_REDIRECT_URI="$RP_REDIRECT_URI" \
   node login.mjs) > "$WORK/peer.log" 2>&1 &
PEER_PID=$!; PIDS+=("$PEER_PID")
wait_http_200 "$PEER_ISSUER/.well-known/openid-configuration" "$PEER_PID" 30 "$WORK/peer.log" \
  || die "oidc-provider did not come up on $PEER_ISSUER"

# ---------------------------------------------------------------- Gatehouse: the partner, then serve
if [ "$GH_ENABLED" = 1 ]; then
  PARTNER=$(printf '%s\n' "$GH_CLIENT_SECRET" | gh_cli partner create --tenant "$SLUG" --name "Partner (oidc-provider)" \
    --issuer "$PEER_ISSUER" --client-id "$GH_CLIENT_ID" --client-secret-stdin --domain "$PEER_DOMAIN" --attest-domains)
  [ "$(jq -r .issuer <<<"$PARTNER")" = "$PEER_ISSUER" ] || die "partner create did not register $PEER_ISSUER"
  (cd "$WORK/gatehouse" && exec "$GATEHOUSE_BIN" serve) > "$WORK/gatehouse/server.log" 2>&1 &
  GH_PID=$!; PIDS+=("$GH_PID")
  wait_http_200 "http://127.0.0.1:$GH_PORT/healthz" "$GH_PID" 60 "$WORK/gatehouse/server.log" \
    || die "gatehouse did not come up on 127.0.0.1:$GH_PORT"
  log "gatehouse: up (pid $GH_PID) at $GH_ISSUER; partner $PEER_ISSUER serves @$PEER_DOMAIN"
fi

# ---------------------------------------------------------------- driver config (holds secrets: mode 0600)
CONFIG="$WORK/config.json"
(umask 077; jq -n --argjson vus "$VUS" --argjson guests "$GUESTS" --argjson clk "$(getconf CLK_TCK)" \
  --argjson gh "$GH_ENABLED" --arg gh_issuer "$GH_ISSUER" --arg tid "$GH_TENANT_ID" --argjson gh_pid "$GH_PID" \
  --argjson app "$GH_APP" --argjson inviter "$GH_INVITER" \
  --arg peer_issuer "$PEER_ISSUER" --argjson peer_pid "$PEER_PID" --arg domain "$PEER_DOMAIN" --arg password "$PASSWORD" \
  --arg rp_id "$RP_CLIENT_ID" --arg rp_secret "$RP_CLIENT_SECRET" --arg rp_redirect "$RP_REDIRECT_URI" '
  { vus: $vus, guests: $guests, clk_tck: $clk,
    gatehouse: { enabled: ($gh == 1), issuer: $gh_issuer, tenant_id: $tid, pid: $gh_pid, app: $app, inviter: $inviter },
    peer: { issuer: $peer_issuer, pid: $peer_pid, domain: $domain, password: $password,
            rp: { client_id: $rp_id, client_secret: $rp_secret, redirect_uri: $rp_redirect } } }' > "$CONFIG")

# ---------------------------------------------------------------- redemption and verification, before any load
if [ "$GH_ENABLED" = 1 ]; then
  log "setup: inviting and redeeming $GUESTS guests through the partner; one verified flow per side"
else
  log "setup: one verified flow"
fi
SETUP=$(node "$DRIVER" setup "$CONFIG" 2> "$WORK/setup.err") || { cat "$WORK/setup.err" >&2; die "setup / verification"; }
jq -e '.ok == true' >/dev/null <<<"$SETUP" || die "setup printed no result"
if [ "$GH_ENABLED" = 1 ]; then
  log "gatehouse: $(jq -r '"\(.redeemed) guests redeemed; verified flow: \(.gatehouse.requests) browser requests, ID token \(.gatehouse.signature), claims \(.gatehouse.claims | tojson)"' <<<"$SETUP")"
fi
log "oidc-provider: $(jq -r '"verified flow: \(.oidc_provider.requests) browser requests, ID token \(.oidc_provider.signature)"' <<<"$SETUP")"
sleep "$RSS_SETTLE_S"
GH_IDLE_KB=0
[ "$GH_ENABLED" = 1 ] && GH_IDLE_KB=$(rss_kb "$GH_PID")
PEER_IDLE_KB=$(rss_kb "$PEER_PID")
log "idle RSS:$([ "$GH_ENABLED" = 1 ] && echo " gatehouse $((GH_IDLE_KB / 1024)) MB,") oidc-provider $((PEER_IDLE_KB / 1024)) MB"

# ---------------------------------------------------------------- load: warm-up, then A B A B
run_load() { # side round seconds record(0|1|profile)
  local side=$1 round=$2 secs=$3 record=$4 out="$WORK/run-$1-$2.json" json
  [ "$record" = profile ] && bench_profile_start "$GH_PID"
  node "$DRIVER" run "$CONFIG" "$side" "$secs" > "$out" 2> "$out.err" \
    || { cat "$out.err" >&2; die "the driver failed on $side"; }
  [ "$record" = profile ] && bench_profile_stop "flow A, one extra round after the recorded ones (not in the medians)"
  json=$(tail -n1 "$out")
  jq -e '.flows >= 0' >/dev/null 2>&1 <<<"$json" || { cat "$out" "$out.err" >&2; die "no driver summary for $side"; }
  kill -0 "$PEER_PID" 2>/dev/null || die "oidc-provider died under load ($side)"
  [ "$GH_ENABLED" = 0 ] || kill -0 "$GH_PID" 2>/dev/null || die "gatehouse died under load ($side)"
  if [ "$(jq .errors <<<"$json")" != 0 ]; then
    jq -r '.error_samples[]' <<<"$json" >&2
    die "$(jq .errors <<<"$json") failed flows on $side (round $round); the first ones are above"
  fi
  [ "$(jq .flows <<<"$json")" -gt 0 ] || die "no flow completed on $side (round $round)"
  if [ "$record" = 1 ]; then
    json=$(jq -c --argjson round "$round" '. + {round: $round}' <<<"$json")
    printf '%s\n' "$json" >> "$RESULTS"
    log "$(jq -r '"\(.side) round \(.round): \(.flows_per_s) flows/s  p50 \(.p50_ms) ms  p99 \(.p99_ms) ms  cores: gatehouse \(.cpu.gatehouse.cores // "-"), oidc-provider \(.cpu.peer.cores), driver \(.driver_cores)"' <<<"$json")"
  elif [ "$record" = profile ]; then
    PROFILE_ROUND=$json
    log "$(jq -r '"\(.side) profiled round: \(.flows_per_s) flows/s, gatehouse \(.cpu.gatehouse.cores) cores = \(.cpu.gatehouse.cpu_ms_per_flow) ms CPU per flow"' <<<"$json")"
  fi
  return 0
}
PROFILE_ROUND=null

SIDES=()
[ "$GH_ENABLED" = 1 ] && SIDES+=(gatehouse)
SIDES+=(oidc-provider)
for side in "${SIDES[@]}"; do
  log "$side: warm-up ${WARMUP}s"
  run_load "$side" 0 "$WARMUP" 0
done
for round in $(seq 1 "$ROUNDS"); do
  for side in "${SIDES[@]}"; do
    run_load "$side" "$round" "$DURATION" 1
  done
done
if [ "$BENCH_PROFILE" = 1 ] && [ "$GH_ENABLED" = 1 ]; then
  log "gatehouse: one more flow-A round of ${DURATION}s under perf record"
  run_load gatehouse P "$DURATION" profile
fi

sleep "$RSS_SETTLE_S"
SIDES_JSON=$(jq -nc --argjson gh "$GH_ENABLED" \
  --argjson gh_idle "$GH_IDLE_KB" --argjson gh_after "$( [ "$GH_ENABLED" = 1 ] && rss_kb "$GH_PID" || echo 0)" \
  --argjson gh_hwm "$( [ "$GH_ENABLED" = 1 ] && hwm_kb "$GH_PID" || echo 0)" \
  --argjson op_idle "$PEER_IDLE_KB" --argjson op_after "$(rss_kb "$PEER_PID")" --argjson op_hwm "$(hwm_kb "$PEER_PID")" '
  { gatehouse: (if $gh == 1 then {idle: $gh_idle, after: $gh_after, hwm: $gh_hwm} else null end),
    peer: {idle: $op_idle, after: $op_after, hwm: $op_hwm} }')

# ---------------------------------------------------------------- summary
GH_VERSION=$([ "$GH_ENABLED" = 1 ] && "$GATEHOUSE_BIN" --version 2>/dev/null || echo "")
SUMMARY=$(jq -n \
  --slurpfile rounds "$RESULTS" --argjson mem "$SIDES_JSON" --argjson setup "$SETUP" \
  --arg mode "$MODE" --argjson rounds_n "$ROUNDS" --argjson duration "$DURATION" --argjson warmup "$WARMUP" \
  --argjson vus "$VUS" --argjson guests "$GUESTS" --argjson nproc "$(nproc)" \
  --argjson load_before "$LOADAVG_BEFORE" --argjson load_after "$(cut -d' ' -f1 /proc/loadavg)" \
  --arg node "$(node --version)" --arg op "$OP_VERSION" --arg ghbin "$GATEHOUSE_BIN" --arg ghver "$GH_VERSION" \
  --argjson gh "$GH_ENABLED" \
  --argjson backend "$(if [ "$GH_ENABLED" = 1 ]; then bench_backend_json; else echo null; fi)" \
  --argjson profile "$(bench_profile_json)" --argjson profile_round "$PROFILE_ROUND" '
  def median: map(select(. != null)) | sort | if length == 0 then null elif length % 2 == 1 then .[length/2|floor]
              else (.[length/2 - 1] + .[length/2]) / 2 end;
  def r1: if . == null then null else (. * 10 | round) / 10 end;
  def r2: if . == null then null else (. * 100 | round) / 100 end;
  def mb: if . == null then null else . / 1024 | r1 end;
  def server($r; $k): if ([$r[].cpu[$k]] | map(select(. != null)) | length) == 0 then null else
      { cores_median: ([$r[].cpu[$k].cores] | median | r2),
        cpu_ms_per_flow_median: ([$r[].cpu[$k].cpu_ms_per_flow] | median | r2),
        rss_peak_mb: ([$r[].cpu[$k].rss_peak_kb] | max | mb),
        cores_each: [$r[].cpu[$k].cores], cpu_ms_per_flow_each: [$r[].cpu[$k].cpu_ms_per_flow] } end;
  def side($side):
    [$rounds[] | select(.side == $side)] as $r
    | if ($r | length) == 0 then null else
      { rounds: ($r | length),
        flows_per_s_median: ([$r[].flows_per_s] | median | r1),
        p50_ms_median: ([$r[].p50_ms] | median | r2),
        p99_ms_median: ([$r[].p99_ms] | median | r2),
        flows: ([$r[].flows] | add),
        errors: ([$r[].errors] | add),
        gatehouse: (if $side == "gatehouse" then server($r; "gatehouse") else null end),
        oidc_provider: server($r; "peer"),
        driver_cores_median: ([$r[].driver_cores] | median | r2),
        flows_per_s_each: [$r[].flows_per_s], p50_ms_each: [$r[].p50_ms], p99_ms_each: [$r[].p99_ms] } end;
  { benchmark: "federated-guest-sign-in",
    mode: $mode,
    settings: { rounds: $rounds_n, duration_s: $duration, warmup_s: $warmup, vus: $vus, guests: $guests, backend: $backend },
    profile: (if $profile == null then null else $profile + { round_figures: $profile_round } end),
    machine: { nproc: $nproc, node: $node, oidc_provider: $op, loadavg_1m_before: $load_before, loadavg_1m_after: $load_after },
    gatehouse: { bin: $ghbin, version: $ghver, ran: ($gh == 1) },
    checks: ($setup | del(.ok)),
    memory: { gatehouse: (if $mem.gatehouse then { rss_idle_mb: ($mem.gatehouse.idle | mb), rss_after_mb: ($mem.gatehouse.after | mb), vm_hwm_mb: ($mem.gatehouse.hwm | mb) } else null end),
              oidc_provider: { rss_idle_mb: ($mem.peer.idle | mb), rss_after_mb: ($mem.peer.after | mb), vm_hwm_mb: ($mem.peer.hwm | mb) } },
    results: ( { flow_a_gatehouse: side("gatehouse"), flow_b_oidc_provider: side("oidc-provider") }
      | .ratio_flows_per_s_a_over_b = (if .flow_a_gatehouse and .flow_b_oidc_provider
          then (.flow_a_gatehouse.flows_per_s_median / .flow_b_oidc_provider.flows_per_s_median | r2) else null end)
      | .ratio_p50_a_over_b = (if .flow_a_gatehouse and .flow_b_oidc_provider
          then (.flow_a_gatehouse.p50_ms_median / .flow_b_oidc_provider.p50_ms_median | r2) else null end)
      | .ratio_p99_a_over_b = (if .flow_a_gatehouse and .flow_b_oidc_provider
          then (.flow_a_gatehouse.p99_ms_median / .flow_b_oidc_provider.p99_ms_median | r2) else null end) ) }')

mkdir -p "$(dirname "$BENCH_OUT")"
printf '%s\n' "$SUMMARY" > "$BENCH_OUT"

{
  echo
  echo "Federated guest sign-in benchmark ($MODE, Gatehouse on $BENCH_BACKEND): $VUS virtual users, $ROUNDS x ${DURATION}s per side, A B A B, medians"
  printf '%-22s %9s %8s %8s %17s %21s %7s\n' flow "flows/s" "p50 ms" "p99 ms" "cores GH + OP" "CPU ms/flow GH + OP" driver
  jq -r '
    def f: if . == null then "-" else tostring end;
    .results as $R
    | ([["A gatehouse+partner", $R.flow_a_gatehouse], ["B oidc-provider", $R.flow_b_oidc_provider]][] | select(.[1] != null)
       | .[1] as $v
       | [.[0], ($v.flows_per_s_median | f), ($v.p50_ms_median | f), ($v.p99_ms_median | f),
          "\($v.gatehouse.cores_median | f) + \($v.oidc_provider.cores_median | f)",
          "\($v.gatehouse.cpu_ms_per_flow_median | f) + \($v.oidc_provider.cpu_ms_per_flow_median | f)",
          ($v.driver_cores_median | f)] | @tsv),
      (select($R.ratio_flows_per_s_a_over_b != null)
       | ["A/B ratio", "x\($R.ratio_flows_per_s_a_over_b)", "x\($R.ratio_p50_a_over_b)", "x\($R.ratio_p99_a_over_b)", "", "", ""] | @tsv)' \
    <<<"$SUMMARY" | awk -F'\t' '{printf "%-22s %9s %8s %8s %17s %21s %7s\n", $1, $2, $3, $4, $5, $6, $7}'
  jq -r '
    def peak($k): [.results[] | objects | .[$k] | objects | .rss_peak_mb] | max;
    (select(.memory.gatehouse) | "RSS gatehouse: idle \(.memory.gatehouse.rss_idle_mb) MB, peak \(peak("gatehouse")) MB under load"),
    "RSS oidc-provider: idle \(.memory.oidc_provider.rss_idle_mb) MB, peak \(peak("oidc_provider")) MB under load"' <<<"$SUMMARY"
  [ "$GH_ENABLED" = 1 ] || echo "Gatehouse: skipped (no binary at $GATEHOUSE_BIN)"
  echo "took $((SECONDS - STARTED)) s; JSON: $BENCH_OUT"
} >&2
