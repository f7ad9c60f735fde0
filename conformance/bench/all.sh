#!/usr/bin/env bash
# Every benchmark on both backends, one after the other: token.sh, saml.sh, federation.sh,
# password.sh and start.sh (and invite.sh with --invite), first on SQLite, then on Postgres + Redis
# (each run on a fresh database, see lib.sh), all with the same Gatehouse binary. Prints one markdown table
# (per bench and backend: throughput, the ratio to the peer and to the machine's ceiling, CPU ms
# per operation, p99, RSS idle / peak) and writes a combined JSON with every runner's own JSON.
# A failed runner does not stop the others; the exit status is non-zero if any failed.
# See conformance/bench/README.md.
#
# Usage: conformance/bench/all.sh [--smoke] [--invite] [--profile] [--backends "sqlite postgres"]
#          [--benches "token saml federation password start"] [--out DIR] [--help]
# Env:   GATEHOUSE_BIN (default <repo>/target/release/gatehouse), BENCH_ALL_OUT (= --out: the
#        directory for every runner's JSON, its log, perf reports with --profile, summary.md and
#        all.json; default a new temp dir), BENCH_KEEP=1 keeps each runner's temp dir. Each
#        runner's own knobs (BENCH_ROUNDS, BENCH_DURATION, ...) pass through.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

MODE=full
BACKENDS="sqlite postgres"
BENCHES="token saml federation password start"
INVITE=0
PROFILE=0
OUT=${BENCH_ALL_OUT:-}

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) MODE=smoke ;;
    --invite) INVITE=1 ;;
    --profile) PROFILE=1 ;;
    --backends) BACKENDS=$2; shift ;;
    --benches) BENCHES=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[ "$INVITE" = 1 ] && BENCHES="$BENCHES invite"
for b in $BENCHES; do [ -x "$HERE/$b.sh" ] || { echo "no benchmark $b.sh" >&2; exit 2; }; done
for b in $BACKENDS; do case "$b" in sqlite|postgres) ;; *) echo "unknown backend $b" >&2; exit 2 ;; esac; done

export GATEHOUSE_BIN=${GATEHOUSE_BIN:-$ROOT/target/release/gatehouse}
case "$GATEHOUSE_BIN" in /*) ;; *) GATEHOUSE_BIN="$ROOT/$GATEHOUSE_BIN" ;; esac
[ -x "$GATEHOUSE_BIN" ] || { echo "no Gatehouse binary at $GATEHOUSE_BIN (cargo build --release, or set GATEHOUSE_BIN)" >&2; exit 1; }
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-bench-all.XXXXXX")}
mkdir -p "$OUT"
# The runners must not see a database or Redis of the caller: --backend decides.
unset GATEHOUSE_DATABASE_URL GATEHOUSE_REDIS_URL GATEHOUSE_REDIS_PREFIX BENCH_BACKEND BENCH_OUT

log() { printf '[bench-all %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
STARTED=$SECONDS
log "mode=$MODE backends='$BACKENDS' benches='$BENCHES' profile=$PROFILE binary=$GATEHOUSE_BIN out=$OUT (load average $(cut -d' ' -f1 /proc/loadavg))"

FAILED=()
for backend in $BACKENDS; do
  for bench in $BENCHES; do
    name="$bench-$backend"
    args=(--backend "$backend")
    [ "$MODE" = smoke ] && args+=(--smoke)
    # invite.sh has its own --profile (the CLI's row phase); the others profile the server.
    [ "$PROFILE" = 1 ] && args+=(--profile)
    log "$name: $bench.sh ${args[*]}"
    t0=$SECONDS
    if BENCH_OUT="$OUT/$name.json" "$HERE/$bench.sh" "${args[@]}" > "$OUT/$name.log" 2>&1; then
      log "$name: done in $((SECONDS - t0)) s"
    else
      log "$name: FAILED after $((SECONDS - t0)) s; last lines of $OUT/$name.log:"
      tail -n 15 "$OUT/$name.log" | sed 's/^/    /' >&2
      FAILED+=("$name")
    fi
  done
done

# ---------------------------------------------------------------- the combined JSON and the table
runs=$(for f in "$OUT"/*.json; do
  [ "$(basename "$f")" = all.json ] && continue
  jq -c --arg name "$(basename "$f" .json)" '{key: $name, value: .}' "$f" 2>/dev/null || true
done | jq -sc 'from_entries')
ALL=$(jq -n --argjson runs "$runs" --arg mode "$MODE" --arg bin "$GATEHOUSE_BIN" \
  --arg version "$("$GATEHOUSE_BIN" --version 2>/dev/null || true)" --argjson nproc "$(nproc)" \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson failed "$(printf '%s\n' "${FAILED[@]+"${FAILED[@]}"}" | jq -R 'select(. != "")' | jq -sc .)" \
  --arg backends "$BACKENDS" --arg benches "$BENCHES" '
  def f1: if . == null then "-" else (. * 10 | round / 10 | tostring) end;
  def f2: if . == null then "-" else (. * 100 | round / 100 | tostring) end;
  def f3: if . == null then "-" else (. * 1000 | round / 1000 | tostring) end;
  def x: if . == null then "-" else "\(. * 100 | round / 100)×" end;
  def pct: if . == null then "-" else "\(. * 1000 | round / 10)%" end;
  def mem($i; $p): "\($i | f1) / \($p | f1)";
  def rows($bench; $backend; $r):
    if $r == null then [] else
    if $bench == "token" then
      [ $r.results | to_entries | sort_by(.key != "RS256", .key)[] | .key as $alg | .value as $v | select($v.gatehouse != null)
        | { bench: "token \($alg)", backend: $backend, unit: "req/s",
            throughput: $v.gatehouse.rps_median,
            vs_peer: "\($v.ratio_rps_gatehouse_over_op | x) oidc-provider (\($v.oidc_provider.rps_median | f1)/s)",
            vs_ceiling: "\($v.gatehouse_cpu_per_request_over_sign | x) one signature’s CPU (\($v.ms_cpu_per_sign | f3) ms)",
            cpu_ms: $v.gatehouse.cpu_ms_per_request_median, p99_ms: $v.gatehouse.p99_ms_median,
            rss: mem($v.gatehouse.rss_idle_mb; $v.gatehouse.rss_peak_mb) } ]
    elif $bench == "saml" then
      [ $r.results | to_entries[] | .key as $var | .value as $v | select($v.gatehouse != null)
        | { bench: "saml \($var) signed (\($v.signatures_per_response) sig)", backend: $backend, unit: "resp/s",
            throughput: $v.gatehouse.rps_median,
            vs_peer: "\($v.ratio_rps_gatehouse_over_best_samlify | x) best samlify (\($v[$v.best_samlify].rps_median | f1)/s)",
            vs_ceiling: "\($v.gatehouse_cpu_per_response_over_signatures | x) its signatures’ CPU (\($r.ceiling.rsa2048_ms_cpu_per_sign | f3) ms each)",
            cpu_ms: $v.gatehouse.cpu_ms_per_response_median, p99_ms: $v.gatehouse.p99_ms_median,
            rss: mem($v.gatehouse.rss_idle_mb; $v.gatehouse.rss_peak_mb) } ]
    elif $bench == "federation" then
      [ $r.results as $v | select($v.flow_a_gatehouse != null)
        | { bench: "federated guest sign-in", backend: $backend, unit: "flows/s",
            throughput: $v.flow_a_gatehouse.flows_per_s_median,
            vs_peer: "\($v.ratio_flows_per_s_a_over_b | x) oidc-provider’s own flow (\($v.flow_b_oidc_provider.flows_per_s_median | f1)/s)",
            vs_ceiling: "partner’s CPU in the flow: \($v.flow_a_gatehouse.oidc_provider.cpu_ms_per_flow_median | f2) ms; its own whole flow: \($v.flow_b_oidc_provider.oidc_provider.cpu_ms_per_flow_median | f2) ms",
            cpu_ms: $v.flow_a_gatehouse.gatehouse.cpu_ms_per_flow_median, p99_ms: $v.flow_a_gatehouse.p99_ms_median,
            rss: mem($r.memory.gatehouse.rss_idle_mb; $v.flow_a_gatehouse.gatehouse.rss_peak_mb) } ]
    elif $bench == "password" then
      [ { bench: "password sign-in", backend: $backend, unit: "flows/s",
          throughput: $r.results.gatehouse.flows_per_s_median, vs_peer: "-",
          vs_ceiling: "\($r.results.fraction_of_ceiling | pct) of argon2id ×\($r.ceiling.processes) (\($r.ceiling.hashes_per_s_median | f1) hashes/s); CPU \($r.results.cpu_per_flow_over_cpu_per_hash | x) one hash (\($r.ceiling.cpu_ms_per_hash_median | f2) ms)",
          cpu_ms: $r.results.gatehouse.cpu_ms_per_flow_median, p99_ms: $r.results.gatehouse.p99_ms_median,
          rss: mem($r.results.gatehouse.rss_idle_mb; $r.results.gatehouse.rss_peak_mb) } ]
    elif $bench == "start" then
      [ $r.results | select(. != null)
        | { bench: "start to ready, fresh database (median of \(.fresh.ms_each | length))", backend: $backend, unit: "ms",
            throughput: .fresh.ms_median, vs_peer: "-",
            vs_ceiling: "\(.fresh_over_floor | x) the first of two RSA-2048 generations (\(.floor.ms_median | f1) ms); \(if .floor_migrations then "the schema alone in psql: \(.floor_migrations.ms_median | f1) ms; " else "" end)fresh \(.fresh.ms_min | f1)–\(.fresh.ms_max | f1) ms; warm start \(.warm.ms_median | f1) ms",
            cpu_ms: null, p99_ms: null, rss: "-" } ]
    elif $bench == "invite" then
      [ { bench: "bulk invitation, CLI (\($r.settings.rows) rows)", backend: $backend, unit: "rows/s",
          throughput: $r.cli.rows_per_s, vs_peer: "-", vs_ceiling: "target 2,000 rows/s: \(if $r.target.cli_met then "met" else "missed" end)",
          cpu_ms: $r.cli.cpu_ms_per_row, p99_ms: null, rss: "- / \($r.cli.max_rss_kb_large / 1024 | f1)" } ]
      + (if $r.api == null then [] else
        [ { bench: "bulk invitation, API (\($r.settings.rows) rows)", backend: $backend, unit: "rows/s",
            throughput: $r.api.rows_per_s, vs_peer: "-", vs_ceiling: "target 2,000 rows/s: \(if $r.target.api_met then "met" else "missed" end)",
            cpu_ms: $r.api.cpu_ms_per_row, p99_ms: null,
            rss: mem($r.api.server_rss_idle_kb / 1024; $r.api.server_rss_peak_kb_large / 1024) } ] end)
    else [] end end;
  ($benches | split(" ") | map(select(. != ""))) as $bs
  | ($backends | split(" ") | map(select(. != ""))) as $bks
  | { benchmark: "all", mode: $mode, date: $date, gatehouse: { bin: $bin, version: $version }, machine: { nproc: $nproc },
      failed: $failed,
      summary: [ $bs[] as $b | $bks[] as $k | rows($b; $k; $runs["\($b)-\($k)"]) [] ],
      runs: $runs }')
printf '%s\n' "$ALL" > "$OUT/all.json"

jq -r '
  def f1: if . == null then "-" else (. * 10 | round / 10 | tostring) end;
  def f3: if . == null then "-" else (. * 1000 | round / 1000 | tostring) end;
  "| bench | backend | throughput | vs peer | vs ceiling | Gatehouse CPU ms/op | p99 ms | RSS idle / peak MB |",
  "|---|---|---|---|---|---|---|---|",
  (.summary[] | "| \(.bench) | \(if .backend == "postgres" then "Postgres + Redis" else "SQLite" end) | **\(.throughput | f1)** \(.unit) | \(.vs_peer) | \(.vs_ceiling) | **\(.cpu_ms | f3)** | \(.p99_ms | f1) | \(.rss) |")' \
  <<<"$ALL" > "$OUT/summary.md"

{
  echo
  echo "All benchmarks ($MODE), $(jq -r '.gatehouse.version' <<<"$ALL"), $(nproc) cores, $(date -u +%Y-%m-%d):"
  echo
  cat "$OUT/summary.md"
  echo
  echo "CPU ms/op = Gatehouse's process CPU time / operations (the figure least moved by a busy box). vs ceiling: token and"
  echo "SAML = CPU per operation / the CPU of the RSA or ECDSA signatures it must make (openssl speed, one process);"
  echo "password = flows/s / argon2id hashes/s of one process per core at Gatehouse's parameters, measured in the same run"
  echo "(on a busy box the neighbours move that share; CPU per flow / CPU per hash is the steadier figure); start = ms from"
  echo "the exec to /healthz 200 on a new database / the first of two concurrent RSA-2048 generations (a fresh node's keys)."
  [ ${#FAILED[@]} -eq 0 ] || echo "FAILED: ${FAILED[*]} (see their logs in $OUT)"
  echo "took $((SECONDS - STARTED)) s; table: $OUT/summary.md; JSON: $OUT/all.json; logs and per-run JSON: $OUT"
} >&2
[ ${#FAILED[@]} -eq 0 ]
