#!/usr/bin/env bash
# Bulk-invitation benchmark: Entra's bulk-invite CSV template, invited with `gatehouse invite`
# (the CLI) and through `POST /{tenant}/v1.0/invitations/bulk` (the API), with every invitation
# e-mail going to a real SMTP server on loopback that counts what it accepts. Reports rows/s,
# mails/s, wall time and peak RSS at two sizes (is memory flat in the number of rows?), and
# re-runs the same CSV to show idempotency (every row already invited, no new mail queued).
# Target from the issue: >= 2,000 rows/s with memory flat in the number of rows.
# See conformance/bench/README.md.
#
# Usage: conformance/bench/invite.sh [--smoke] [--rows N] [--small-rows N] [--no-api] [--profile]
#          [--backend sqlite|postgres] [--help]
# Env:   GATEHOUSE_BIN (default <repo>/target/release/gatehouse), BENCH_OUT (JSON summary; default a
#        temp file), BENCH_ROWS (10000; smoke 1000), BENCH_SMALL_ROWS (1000; smoke 100),
#        BENCH_MAIL_WINDOW (seconds the mail delivery is watched after the rows are done; 10,
#        smoke 3), BENCH_KEEP=1 keeps the temp dir. GATEHOUSE_DATABASE_URL, GATEHOUSE_REDIS_URL,
#        GATEHOUSE_REDIS_PREFIX and GATEHOUSE_MASTER_KEY are passed through (default: SQLite and
#        the in-process store in a fresh temp dir). --backend postgres (or BENCH_BACKEND=postgres)
#        creates a fresh database on 127.0.0.1:5432 and uses Redis, and drops it at the end (lib.sh).
#        --profile: one more CLI run of BENCH_SMALL_ROWS fresh rows under `perf record -g`; the
#        top of `perf report` is printed and kept in the JSON.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NODE_DIR="$ROOT/conformance/invite/node"
# shellcheck source=conformance/bench/lib.sh
. "$HERE/lib.sh"

MODE=full
ROWS=${BENCH_ROWS:-}
SMALL=${BENCH_SMALL_ROWS:-}
WINDOW=${BENCH_MAIL_WINDOW:-}
API=1
PROFILE=0
TARGET_RPS=2000

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) MODE=smoke ;;
    --rows) ROWS=$2; shift ;;
    --small-rows) SMALL=$2; shift ;;
    --no-api) API=0 ;;
    --profile) PROFILE=1 ;;
    --backend) BENCH_BACKEND=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if [ "$MODE" = smoke ]; then
  ROWS=${ROWS:-1000}; SMALL=${SMALL:-100}; WINDOW=${WINDOW:-3}
else
  ROWS=${ROWS:-10000}; SMALL=${SMALL:-1000}; WINDOW=${WINDOW:-10}
fi

GATEHOUSE_BIN=${GATEHOUSE_BIN:-$ROOT/target/release/gatehouse}
case "$GATEHOUSE_BIN" in /*) ;; *) GATEHOUSE_BIN="$ROOT/$GATEHOUSE_BIN" ;; esac
GH_COMM=$(basename "$GATEHOUSE_BIN" | cut -c1-15)   # the process name pgrep sees (comm: 15 characters)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench-invite.XXXXXX")
BENCH_OUT=${BENCH_OUT:-$WORK.json}
RUNS="$WORK/runs.jsonl"
: > "$RUNS"

log() { printf '[bench-invite %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup of everything we start
PIDS=()
cleanup() { bench_cleanup $? "$WORK/server.log"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() { local p keep=(); for p in "${PIDS[@]+"${PIDS[@]}"}"; do [ "$p" = "$1" ] || keep+=("$p"); done; PIDS=("${keep[@]+"${keep[@]}"}"); }
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}

# ---------------------------------------------------------------- installs (idempotent)
bench_backend_init invite   # --backend postgres: sets GATEHOUSE_DATABASE_URL / _REDIS_URL / _REDIS_PREFIX
[ -x "$GATEHOUSE_BIN" ] || die "no Gatehouse binary at $GATEHOUSE_BIN (build it with 'cargo build --release' or set GATEHOUSE_BIN)"
need_apt=()
command -v jq >/dev/null || need_apt+=(jq)
command -v curl >/dev/null || need_apt+=(curl)
command -v pgrep >/dev/null || need_apt+=(procps)
[ -x /usr/bin/time ] || need_apt+=(time)
case "${GATEHOUSE_DATABASE_URL:-sqlite}" in
  postgres*) command -v psql >/dev/null || need_apt+=(postgresql-client) ;;
  *) command -v sqlite3 >/dev/null || need_apt+=(sqlite3) ;;
esac
if [ "$PROFILE" = 1 ] && ! command -v perf >/dev/null; then need_apt+=(linux-perf); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq "${need_apt[@]}" >/dev/null || die "apt-get install ${need_apt[*]}"
fi
command -v node >/dev/null || die "node is required (Node.js 20+)"
(
  stamp="$NODE_DIR/node_modules/.gatehouse-lock.sha256"
  want=$(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "npm ci in $NODE_DIR (smtp-server for the SMTP sink)"
    cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2 && echo "$want" > "$stamp"
  fi
) || die "npm ci in $NODE_DIR"

# ---------------------------------------------------------------- helpers
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
status_kb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status" 2>/dev/null || true; }
CLK_TCK=$(getconf CLK_TCK)
now() { printf '%s\n' "$EPOCHREALTIME"; }
sink_accepted() { curl -sf --max-time 5 "$SINK/stats" | jq -r .accepted; }
# Stamps each line of stdin with the wall clock.
stamp() { local line; while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done; }
# Samples RSS (kB) of a pid every 0.1 s until it exits or is killed.
sample_rss() { local pid=$1 rss; while kill -0 "$pid" 2>/dev/null; do rss=$(status_kb "$pid" VmRSS); [ -n "$rss" ] && printf '%s %s\n' "$EPOCHREALTIME" "$rss"; sleep 0.1; done; }
# Entra's bulk-invite template: version row, header row, then one invitee per row.
make_csv() { # file rows tag
  awk -v n="$2" -v p="$3" -v url="$MYAPPS" 'BEGIN {
    print "version:v1.0"
    print "Email address to invite [inviteeEmail] Required,Redirection url [inviteRedirectURL] Required,Send invitation message (true or false) [sendEmail],Customized invitation message [customizedMessageBody]"
    for (i = 1; i <= n; i++) printf "%s-%06d@partner%02d.example,%s,true,Welcome to the supplier portal (row %d)\n", p, i, i % 37, url, i
  }' > "$1"
}
# Counts the statuses of a results CSV (row,email,status,invitationId,userId,reason) as JSON.
count_statuses() { tail -n +2 "$1" | awk -F, '{c[$3]++} END {printf "{"; s=""; for (k in c) {printf "%s\"%s\":%d", s, k, c[k]; s=","} printf "}"}'; }
# Read-only look at the durable mail outbox of the bench tenant: "queued sent".
outbox() {
  local sql="SELECT COUNT(*), COUNT(sent_at) FROM mail_outbox WHERE tenant_id = '$TENANT_ID'"
  case "${GATEHOUSE_DATABASE_URL:-sqlite}" in
    postgres*) psql "$GATEHOUSE_DATABASE_URL" -tA -F ' ' -c "$sql" ;;
    sqlite:*) sqlite3 -readonly -separator ' ' "${GATEHOUSE_DATABASE_URL#sqlite://}" "$sql" ;;
    *) sqlite3 -readonly -separator ' ' "$GATEHOUSE_DATA_DIR/gatehouse.db" "$sql" ;;
  esac
}

# ---------------------------------------------------------------- SMTP sink and Gatehouse config
log "mode=$MODE rows=$ROWS small=$SMALL mail-window=${WINDOW}s api=$API profile=$PROFILE binary=$GATEHOUSE_BIN"
node "$NODE_DIR/smtp-sink.mjs" --count-only > "$WORK/sink.json" 2> "$WORK/sink.log" &
SINK_PID=$!; PIDS+=("$SINK_PID")
for i in $(seq 1 50); do
  grep -q '"ready":true' "$WORK/sink.json" 2>/dev/null && break
  kill -0 "$SINK_PID" 2>/dev/null || die "SMTP sink exited: $(cat "$WORK/sink.log")"
  [ "$i" = 50 ] && die "SMTP sink did not start"
  sleep 0.2
done
SMTP_PORT=$(jq -r .smtp_port "$WORK/sink.json"); SINK="http://127.0.0.1:$(jq -r .http_port "$WORK/sink.json")"
log "SMTP sink (count-only) on smtp://127.0.0.1:$SMTP_PORT"

GH_PORT=$(free_port)
export GATEHOUSE_LISTEN="127.0.0.1:$GH_PORT" GATEHOUSE_PUBLIC_URL="http://127.0.0.1:$GH_PORT"
export GATEHOUSE_DATA_DIR="$WORK/data" GATEHOUSE_KEYS_DIR="$WORK/keys"
export GATEHOUSE_MAIL__SMTP_URL="smtp://127.0.0.1:$SMTP_PORT"
export GATEHOUSE_LOG=${GATEHOUSE_LOG:-warn}
mkdir -p "$GATEHOUSE_DATA_DIR" "$GATEHOUSE_KEYS_DIR"
SLUG="bi-$(date +%s)-$RANDOM"
[ -n "${GATEHOUSE_DATABASE_URL:-}" ] && export GATEHOUSE_DATABASE_URL
[ -n "${GATEHOUSE_MASTER_KEY:-}" ] && export GATEHOUSE_MASTER_KEY
if [ -n "${GATEHOUSE_REDIS_URL:-}" ]; then export GATEHOUSE_REDIS_URL GATEHOUSE_REDIS_PREFIX=${GATEHOUSE_REDIS_PREFIX:-"$SLUG:"}; fi
DB_KIND=sqlite; [ -n "${GATEHOUSE_DATABASE_URL:-}" ] && DB_KIND=${GATEHOUSE_DATABASE_URL%%:*}

gh_cli() { # runs the CLI from the temp dir (no stray gatehouse.toml); prints its JSON
  (cd "$WORK" && exec "$GATEHOUSE_BIN" "$@") > "$WORK/cli.out" 2> "$WORK/cli.err" || { cat "$WORK/cli.out" "$WORK/cli.err" >&2; die "gatehouse $*"; }
  jq -c . "$WORK/cli.out"
}
gh_cli migrate >/dev/null   # administration commands need an existing database
TENANT=$(gh_cli tenant create --slug "$SLUG" --name "Bulk Bench" --domain "$SLUG.bench.test")
TENANT_ID=$(jq -r .id <<<"$TENANT")
ISSUER=$(jq -r .issuer <<<"$TENANT")
MYAPPS="$ISSUER/myapps"
BOT=$(gh_cli app create --tenant "$SLUG" --name "Bulk inviter" --grant client_credentials --permission User.Invite.All)
read -r q s < <(outbox) || die "cannot read the mail outbox of the database"
log "tenant $SLUG ($DB_KIND${GATEHOUSE_REDIS_URL:+ + redis}), inviteRedirectURL $MYAPPS, outbox readable ($q queued)"

# Records one run. Mail is measured in a window: from the start of the run to WINDOW seconds
# after the last row's result (the CLI keeps delivering the outbox for up to 60 s after the
# rows and then leaves the rest to a server; the API's outbox worker runs all along).
record() { # label via expect rows t0 t_done t_end cpu_rows_s mails_in_window window_start queued_delta backlog statuses maxrss rss_json [server json] [steady rows/s]
  jq -nc --arg lbl "$1" --arg via "$2" --arg expect "$3" --argjson rows "$4" --argjson t0 "$5" --argjson tdone "$6" \
    --argjson tend "$7" --argjson cpu "$8" --argjson mails "$9" --argjson wstart "${10}" --argjson queued "${11}" \
    --argjson backlog "${12}" --argjson statuses "${13}" --argjson maxrss "${14}" --argjson rss "${15}" \
    --argjson server "${16:-null}" --argjson steady "${17:-null}" '
    def r1: (. * 10 | round) / 10;
    def r3: (. * 1000 | round) / 1000;
    { "label": $lbl, via: $via, expect: $expect, rows: $rows, statuses: $statuses,
      result_rows: ($statuses | add // 0),
      rows_phase_s: ($tdone - $t0 | r3), rows_per_s: ($rows / ($tdone - $t0) | r1), steady_rows_per_s: $steady,
      cpu_rows_phase_cores: ($cpu / ($tdone - $t0) | . * 100 | round / 100),
      cpu_ms_per_row: ($cpu * 1000 / $rows | . * 1000 | round / 1000),
      wall_s: ($tend - $t0 | r3),
      mail_queued: $queued, mails_accepted_in_window: $mails, mail_window_s: ($tend - $wstart | r3),
      mails_per_s: (if $mails > 0 then ($mails / ($tend - $wstart) | r1) else 0 end),
      outbox_backlog_after: $backlog,
      max_rss_kb: $maxrss, rss_samples: ($rss | length),
      rss_median_kb: (if ($rss | length) > 0 then ($rss | sort | .[length / 2 | floor]) else null end) }
    + (if $server == null then {} else $server end)' >> "$RUNS"
}

check_run() { # label: correctness of a recorded run
  local rec; rec=$(jq -c "select(.label == \"$1\")" "$RUNS")
  local rows expect; rows=$(jq .rows <<<"$rec"); expect=$(jq -r .expect <<<"$rec")
  [ "$(jq .result_rows <<<"$rec")" = "$rows" ] || die "$1: $(jq .result_rows <<<"$rec") result rows, want $rows"
  case "$expect" in
    fresh)
      [ "$(jq '.statuses.Invited // 0' <<<"$rec")" = "$rows" ] || die "$1: not every row was Invited: $(jq -c .statuses <<<"$rec")"
      [ "$(jq .mail_queued <<<"$rec")" = "$rows" ] || die "$1: $(jq .mail_queued <<<"$rec") e-mails queued in the outbox, want $rows (one per row)"
      [ "$(jq .mails_accepted_in_window <<<"$rec")" -gt 0 ] || die "$1: the SMTP sink accepted no mail"
      ;;
    again)
      [ "$(jq '.statuses.AlreadyInvited // 0' <<<"$rec")" = "$rows" ] || die "$1: re-run is not idempotent: $(jq -c .statuses <<<"$rec")"
      [ "$(jq .mail_queued <<<"$rec")" = 0 ] || die "$1: the re-run queued $(jq .mail_queued <<<"$rec") new e-mails"
      ;;
  esac
  log "$(jq -r '"\(.label): \(.rows) rows in \(.rows_phase_s) s = \(.rows_per_s) rows/s (\(.cpu_rows_phase_cores) cores); \(.mail_queued) mails queued, \(.mails_accepted_in_window) accepted by the sink in \(.mail_window_s) s = \(.mails_per_s) mails/s, backlog \(.outbox_backlog_after); RSS \((.max_rss_kb // .server_rss_peak_kb) / 1024 | . * 10 | round / 10) MB; \(.statuses)"' <<<"$rec")"
}

# ---------------------------------------------------------------- one CLI run
cli_run() { # label csv rows expect
  local label=$1 csv=$2 rows=$3 expect=$4 out="$WORK/$1"
  local q0 s0 q1 s1 a0 a1 t0 t_done="" t_end pid time_pid sampler cpu0 cpu1=0 i
  read -r q0 s0 < <(outbox); a0=$(sink_accepted)
  t0=$(now)
  (cd "$WORK" && exec /usr/bin/time -v -o "$out.time" "$GATEHOUSE_BIN" invite --tenant "$SLUG" --csv "$csv" \
     2> >(stamp > "$out.stderr") > "$out.results.csv") &
  time_pid=$!
  pid=""
  for _ in $(seq 1 100); do pid=$(pgrep -P "$time_pid" -x "$GH_COMM" || true); [ -n "$pid" ] && break; kill -0 "$time_pid" 2>/dev/null || break; sleep 0.01; done
  [ -n "$pid" ] || die "$label: gatehouse invite did not start"
  cpu0=$(cpu_ticks "$pid")
  sample_rss "$pid" > "$out.rss" & sampler=$!
  # Wait for the last row's result ("done: …" on stderr), then watch the mail for WINDOW s.
  while kill -0 "$pid" 2>/dev/null; do
    if grep -q ' done: ' "$out.stderr" 2>/dev/null; then cpu1=$(cpu_ticks "$pid"); break; fi
    sleep 0.05
  done
  t_done=$(awk '/ done: /{print $1}' "$out.stderr" 2>/dev/null | tail -n1)
  [ -n "$t_done" ] || { wait "$time_pid" || true; cat "$out.stderr" >&2; die "$label: gatehouse invite ended without its 'done:' line"; }
  for i in $(seq 1 $((WINDOW * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  t_end=$(now)
  a1=$(sink_accepted)
  # Still delivering the outbox: stop it (the rest stays queued, durable, for a server).
  kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
  wait "$time_pid" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  read -r q1 s1 < <(outbox)
  local maxrss ticks
  maxrss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$out.time")
  [ "$cpu1" = 0 ] && cpu1=$(awk -F': ' '/User time/{u=$2} /System time/{s=$2} END{printf "%d", (u + s) * '"$CLK_TCK"'}' "$out.time")
  ticks=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$CLK_TCK" 'BEGIN{printf "%.3f", (b - a) / hz}')
  # Steady rate: from the first progress line ("500 rows processed") to the last row.
  local steady
  steady=$(awk -v td="$t_done" '/ rows processed$/ && !f {t=$1; n=$2; f=1} END {if (f && td > t) printf "%.1f", ('"$rows"' - n) / (td - t); else print "null"}' "$out.stderr")
  # The CLI delivers mail only after the last row: its mail window starts there.
  record "$label" cli "$expect" "$rows" "$t0" "$t_done" "$t_end" "$ticks" "$((a1 - a0))" "$t_done" "$((q1 - q0))" "$((q1 - s1))" \
    "$(count_statuses "$out.results.csv")" "${maxrss:-0}" "$(awk '{print $2}' "$out.rss" | jq -sc .)" null "$steady"
  check_run "$label"
}

# ---------------------------------------------------------------- the CLI runs
make_csv "$WORK/small.csv" "$SMALL" clismall
make_csv "$WORK/large.csv" "$ROWS" clilarge
log "CSV: $SMALL rows ($(wc -c < "$WORK/small.csv") bytes) and $ROWS rows ($(wc -c < "$WORK/large.csv") bytes), Entra's template"
cli_run cli-small "$WORK/small.csv" "$SMALL" fresh
cli_run cli-large "$WORK/large.csv" "$ROWS" fresh
cli_run cli-large-again "$WORK/large.csv" "$ROWS" again

PROFILE_TOP=""
if [ "$PROFILE" = 1 ]; then
  make_csv "$WORK/profile.csv" "$SMALL" cliprofile
  log "perf record -g of gatehouse invite ($SMALL fresh rows; stopped at the last row, before mail delivery)"
  (cd "$WORK" && exec perf record -F 999 -g -o "$WORK/perf.data" -- "$GATEHOUSE_BIN" invite --tenant "$SLUG" --csv "$WORK/profile.csv" \
     > "$WORK/profile.results.csv" 2> "$WORK/profile.stderr") &
  perf_pid=$!
  for _ in $(seq 1 600); do grep -q ' done: \|^done: ' "$WORK/profile.stderr" 2>/dev/null && break; kill -0 "$perf_pid" 2>/dev/null || break; sleep 0.1; done
  gh=$(pgrep -P "$perf_pid" -x "$GH_COMM" || true)
  [ -n "$gh" ] && kill -TERM "$gh" 2>/dev/null || true
  wait "$perf_pid" 2>/dev/null || true
  tidy() { grep -E '^ +[0-9]+\.[0-9]+%' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//; s/^[[:space:]]+//; s/[[:space:]]{2,}/  /g'; }
  perf report -i "$WORK/perf.data" --no-children -g none --sort comm,dso --stdio 2>/dev/null | tidy | head -n 10 > "$WORK/perf.dso" || true
  perf report -i "$WORK/perf.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null | tidy | head -n 25 > "$WORK/perf.top" || true
  PROFILE_TOP=$(cat "$WORK/perf.dso" "$WORK/perf.top")
  log "perf: samples by thread and binary"; sed 's/^/    /' "$WORK/perf.dso" >&2
  log "perf: top symbols"; head -n 15 "$WORK/perf.top" | sed 's/^/    /' >&2
fi

# ---------------------------------------------------------------- the API runs
API_IDLE_KB=0
if [ "$API" = 1 ]; then
  (cd "$WORK" && exec "$GATEHOUSE_BIN" serve) > "$WORK/server.out" 2> "$WORK/server.log" &
  GH_PID=$!; PIDS+=("$GH_PID")
  for i in $(seq 1 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$GH_PORT/healthz" && break
    kill -0 "$GH_PID" 2>/dev/null || die "gatehouse serve exited"
    [ "$i" = 100 ] && die "gatehouse serve did not come up"
    sleep 0.2
  done
  TOKEN=$(curl -sf -u "$(jq -r .client_id <<<"$BOT"):$(jq -r .client_secret <<<"$BOT")" \
    -d grant_type=client_credentials -d scope=User.Invite.All "$ISSUER/oauth2/token" | jq -er .access_token) || die "no app token"
  sleep 1
  API_IDLE_KB=$(status_kb "$GH_PID" VmRSS)
  read -r q s < <(outbox)
  log "gatehouse serve up (pid $GH_PID), idle RSS $((API_IDLE_KB / 1024)) MB; its outbox worker starts on the CLI runs' backlog ($((q - s)) mails)"

  api_run() { # label csv rows expect
    local label=$1 csv=$2 rows=$3 expect=$4 out="$WORK/$1"
    local q0 s0 q1 s1 a0 a1 t0 t1 t_end code sampler cpu0 cpu1 rss_before
    read -r q0 s0 < <(outbox); a0=$(sink_accepted)
    rss_before=$(status_kb "$GH_PID" VmRSS)
    sample_rss "$GH_PID" > "$out.rss" & sampler=$!
    cpu0=$(cpu_ticks "$GH_PID")
    t0=$(now)
    code=$(curl -sS -o "$out.results.csv" -w '%{http_code}' --max-time 600 -X POST \
      -H "authorization: Bearer $TOKEN" -H 'content-type: text/csv' --data-binary @"$csv" "$ISSUER/v1.0/invitations/bulk") \
      || die "$label: upload failed"
    t1=$(now); cpu1=$(cpu_ticks "$GH_PID")
    [ "$code" = 200 ] || { head -c 2000 "$out.results.csv" >&2; die "$label: HTTP $code"; }
    sleep "$WINDOW"
    t_end=$(now); a1=$(sink_accepted)
    kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
    read -r q1 s1 < <(outbox)
    local server
    server=$(jq -nc --argjson before "${rss_before:-0}" --argjson after "$(status_kb "$GH_PID" VmRSS)" \
      --argjson hwm "$(status_kb "$GH_PID" VmHWM)" --argjson peak "$(awk 'BEGIN{m=0} $2>m{m=$2} END{print m}' "$out.rss")" \
      '{server_rss_before_kb: $before, server_rss_peak_kb: $peak, server_rss_after_kb: $after, server_vm_hwm_kb: $hwm}')
    record "$label" api "$expect" "$rows" "$t0" "$t1" "$t_end" \
      "$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$CLK_TCK" 'BEGIN{printf "%.3f", (b - a) / hz}')" \
      "$((a1 - a0))" "$t0" "$((q1 - q0))" "$((q1 - s1))" "$(count_statuses "$out.results.csv")" null "$(awk '{print $2}' "$out.rss" | jq -sc .)" "$server"
    check_run "$label"
  }
  make_csv "$WORK/api-small.csv" "$SMALL" apismall
  make_csv "$WORK/api-large.csv" "$ROWS" apilarge
  api_run api-small "$WORK/api-small.csv" "$SMALL" fresh
  api_run api-large "$WORK/api-large.csv" "$ROWS" fresh
  api_run api-large-again "$WORK/api-large.csv" "$ROWS" again
  kill -0 "$GH_PID" 2>/dev/null || die "gatehouse serve died during the API runs"
  stop_pid "$GH_PID"
fi

# ---------------------------------------------------------------- summary
SUMMARY=$(jq -n --slurpfile runs "$RUNS" --arg mode "$MODE" --argjson rows "$ROWS" --argjson small "$SMALL" \
  --argjson window "$WINDOW" --argjson target "$TARGET_RPS" --arg db "$DB_KIND" --arg redis "${GATEHOUSE_REDIS_URL:+redis}" \
  --argjson nproc "$(nproc)" --arg node "$(node --version)" --arg ghbin "$GATEHOUSE_BIN" \
  --argjson api_idle "${API_IDLE_KB:-0}" --arg perf "$PROFILE_TOP" --argjson backend "$(bench_backend_json)" '
  def run($l): [$runs[] | select(.label == $l)][0];
  def ratio(a; b): if a == null or b == null or b == 0 then null else ((a / b) * 100 | round) / 100 end;
  { benchmark: "bulk-invitation", mode: $mode,
    settings: { rows: $rows, small_rows: $small, mail_window_s: $window, backend: $backend,
                template: "Entra bulk invite CSV (version:v1.0 + header row)", send_email: true },
    machine: { nproc: $nproc, node: $node, database: $db, ephemeral: (if $redis == "" then "memory" else $redis end) },
    gatehouse: { bin: $ghbin },
    runs: $runs,
    cli: { rows_per_s: run("cli-large").rows_per_s, cpu_ms_per_row: run("cli-large").cpu_ms_per_row, steady_rows_per_s: run("cli-large").steady_rows_per_s, mails_per_s: run("cli-large").mails_per_s,
           max_rss_kb_small: run("cli-small").max_rss_kb, max_rss_kb_large: run("cli-large").max_rss_kb,
           rss_ratio_large_over_small: ratio(run("cli-large").max_rss_kb; run("cli-small").max_rss_kb),
           idempotent: (run("cli-large-again").statuses.AlreadyInvited == $rows and run("cli-large-again").mail_queued == 0) },
    api: (if run("api-large") == null then null else
          { rows_per_s: run("api-large").rows_per_s, cpu_ms_per_row: run("api-large").cpu_ms_per_row, mails_per_s: run("api-large").mails_per_s, server_rss_idle_kb: $api_idle,
            server_rss_peak_kb_small: run("api-small").server_rss_peak_kb, server_rss_peak_kb_large: run("api-large").server_rss_peak_kb,
            rss_ratio_large_over_small: ratio(run("api-large").server_rss_peak_kb; run("api-small").server_rss_peak_kb),
            idempotent: (run("api-large-again").statuses.AlreadyInvited == $rows and run("api-large-again").mail_queued == 0) } end),
    target: { rows_per_s: $target,
              cli_met: (run("cli-large").rows_per_s >= $target),
              api_met: (if run("api-large") == null then null else run("api-large").rows_per_s >= $target end),
              mail_met: ([$runs[] | select(.expect == "fresh") | .mails_per_s] | max >= $target) },
    profile: (if $perf == "" then null else ($perf | split("\n")) end) }')
mkdir -p "$(dirname "$BENCH_OUT")"
printf '%s\n' "$SUMMARY" > "$BENCH_OUT"

{
  echo
  echo "Bulk invitation benchmark ($MODE, $DB_KIND${GATEHOUSE_REDIS_URL:+ + redis}): Entra CSV template, one e-mail per row to a local SMTP sink"
  printf '%-16s %6s %8s %8s %8s %6s %7s %7s %7s %8s %8s %10s  %s\n' run rows "rows s" "rows/s" "steady" cores "ms/row" queued "mails" "mails/s" backlog "peak RSS" statuses
  jq -r '.runs[] | [.label, .rows, .rows_phase_s, .rows_per_s, (.steady_rows_per_s // "-"), .cpu_rows_phase_cores, .cpu_ms_per_row, .mail_queued, .mails_accepted_in_window,
     .mails_per_s, .outbox_backlog_after, "\(((.max_rss_kb // .server_rss_peak_kb) / 1024 * 10 | round) / 10) MB", (.statuses | tostring)] | @tsv' <<<"$SUMMARY" \
    | awk -F'\t' '{printf "%-16s %6s %8s %8s %8s %6s %7s %7s %7s %8s %8s %10s  %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13}'
  jq -r '"CLI: peak RSS \(.cli.max_rss_kb_small / 1024 | round) MB at \(.settings.small_rows) rows, \(.cli.max_rss_kb_large / 1024 | round) MB at \(.settings.rows) rows (x\(.cli.rss_ratio_large_over_small)); re-run idempotent: \(.cli.idempotent)"' <<<"$SUMMARY"
  jq -r 'select(.api != null) | "API: server RSS idle \(.api.server_rss_idle_kb / 1024 | round) MB, peak \(.api.server_rss_peak_kb_small / 1024 | round) MB at \(.settings.small_rows) rows, \(.api.server_rss_peak_kb_large / 1024 | round) MB at \(.settings.rows) rows (x\(.api.rss_ratio_large_over_small)); re-run idempotent: \(.api.idempotent)"' <<<"$SUMMARY"
  jq -r '"target \(.target.rows_per_s) rows/s: CLI rows \(if .target.cli_met then "met" else "MISSED" end) (\(.cli.rows_per_s), steady \(.cli.steady_rows_per_s))" + (if .api then ", API rows \(if .target.api_met then "met" else "MISSED" end) (\(.api.rows_per_s))" else "" end) + ", e-mail \(if .target.mail_met then "met" else "MISSED" end) (best \([.runs[] | select(.expect == "fresh") | .mails_per_s] | max) mails/s)"' <<<"$SUMMARY"
  echo "rows/s: rows / time from start to the last row's result (steady: from the CLI's first progress line). mails: accepted by the SMTP sink until ${WINDOW}s after the last row, counted from the last row (CLI: it delivers only then, and is stopped at the window's end; queued mail stays in the outbox) or from the start (API: the server's outbox worker runs all along). backlog: the tenant's unsent mail in the outbox after the run."
  echo "JSON: $BENCH_OUT"
} >&2
