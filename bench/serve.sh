#!/usr/bin/env bash
# bench/serve.sh: server benchmarks of issue #5 (not a CI test; prints numbers for docs/benchmarks.md "## Server").
#
#   1. Latency: wrk, 64 connections, DURATION seconds on /metrics, for each cache size (SMALL_REPOS, a typical
#      node, and REPOS, the medium cache; FILES symlinked files per repo) in three modes:
#        interval    --scan.mode interval --scan.interval 1s: scans keep running in the background
#        on-scrape   --scan.min-interval 0s (the default): every scrape that finds no walk running starts one,
#                    the worst case
#        min-5s      on-scrape with --scan.min-interval 5s: a walk at most every 5 s, scrapes reuse its result
#      One line each: p50/p99/max, requests, req/s, socket errors, non-2xx, body bytes (text format), walk time,
#      walks during the run, RSS.
#      With PIN=1 (default) the exporter runs on CPU 1 and wrk on CPU 0 (taskset), so the load generator does
#      not take CPU from the server. The exporter then sizes itself for one CPU (1 tokio worker, 1 scan thread).
#      PIN=0 runs both unpinned on the same cores. GZIP=1 makes wrk send `Accept-Encoding: gzip`, as Prometheus
#      does on every scrape (the body is then compressed once per scan, see src/server/gzip.rs).
#   2. Single flight: a large cache whose walk takes a while, on-scrape mode, min-interval 0s; 64 requests fired at
#      once (curl --parallel --parallel-immediate --parallel-max 64); the delta of hf_cache_scans_total, minus the
#      one walk of the scrape that reads it afterwards, is the number of walks the 64 caused. Repeated ROUNDS
#      times (ROUNDS=0 skips it).
#
# Usage: bash bench/serve.sh
#   env: DURATION=60 SMALL_REPOS=20 REPOS=500 FILES=40 MODES="interval on-scrape min-5s" PIN=1 GZIP=0
#        BIG_REPOS=200 BIG_FILES=500 ROUNDS=5
# shellcheck source=bench/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

DURATION=${DURATION:-60}
SMALL_REPOS=${SMALL_REPOS:-20}
REPOS=${REPOS:-500}
FILES=${FILES:-40}
MODES=${MODES:-interval on-scrape min-5s}
PIN=${PIN:-1}
GZIP=${GZIP:-0}
BIG_REPOS=${BIG_REPOS:-200}
BIG_FILES=${BIG_FILES:-500}
ROUNDS=${ROUNDS:-5}

need_tools
echo "machine: $(machine)"
echo "command: DURATION=$DURATION SMALL_REPOS=$SMALL_REPOS REPOS=$REPOS FILES=$FILES MODES=\"$MODES\" PIN=$PIN GZIP=$GZIP" \
    "BIG_REPOS=$BIG_REPOS BIG_FILES=$BIG_FILES ROUNDS=$ROUNDS bash bench/serve.sh"
WRK=(wrk -t 2)
if [[ $PIN == 1 ]]; then
    EXP_WRAP=(taskset -c 1)
    WRK=(taskset -c 0 wrk -t 1)
    echo "pinned: exporter on CPU 1, wrk (1 thread) on CPU 0"
else
    echo "not pinned: exporter and wrk (2 threads) share the cores"
fi

# latency LABEL CACHE_DIR EXPECTED_BYTES EXPORTER_ARGS...: one wrk run, one result line.
latency() {
    local label=$1 dir=$2 want=$3 out=$BENCH_TMP/wrk.${1//\//.}
    shift 3
    start_exporter --cache.dir "$dir" "$@"
    local got
    got=$(curl -fsS "$URL/metrics" | awk '$1 ~ /^hf_cache_bytes\{/ {s += $NF} END {printf "%.0f", s}')
    [[ $got == "$want" ]] || { say "exporter reports $got bytes, generator $want"; exit 1; }
    # Every value from one saved scrape: in on-scrape mode each scrape may walk.
    curl -fsS "$URL/metrics" >"$BENCH_TMP/before"
    local scans0 walk body
    scans0=$(metric hf_cache_scans_total "$BENCH_TMP/before")
    walk=$(metric hf_cache_scan_duration_seconds "$BENCH_TMP/before")
    body=$(wc -c <"$BENCH_TMP/before")
    local enc=()
    [[ $GZIP == 1 ]] && enc=(-H 'Accept-Encoding: gzip')
    "${WRK[@]}" -c 64 -d "${DURATION}s" --latency --timeout 10s "${enc[@]}" "$URL/metrics" >"$out" 2>&1
    local scans1 rss
    scans1=$(metric hf_cache_scans_total)
    rss=$(awk '/VmRSS/ {print $2 " " $3}' "/proc/$EXP_PID/status")
    echo "latency $label: $(wrk_summary "$out") body=${body}B walk=${walk}s" \
        "walks_during_run=$((scans1 - scans0 - 1)) rss=$rss"
    stop_exporter
}

for size in small medium; do
    if [[ $size == small ]]; then n=$SMALL_REPOS; else n=$REPOS; fi
    dir=$BENCH_TMP/$size
    read -r n_repos n_files n_bytes < <(gen_cache "$dir" "$n" "$FILES")
    echo "$size cache: $n_repos repos, $n_files files, $n_bytes bytes"
    for mode in $MODES; do
        case $mode in
        interval) args=(--scan.mode interval --scan.interval 1s) ;;
        on-scrape) args=(--scan.mode on-scrape --scan.min-interval 0s) ;;
        min-5s) args=(--scan.mode on-scrape --scan.min-interval 5s) ;;
        *) say "unknown mode $mode"; exit 1 ;;
        esac
        latency "$size/$mode" "$dir" "$n_bytes" "${args[@]}"
    done
done

[[ $ROUNDS -gt 0 ]] || exit 0
big=$BENCH_TMP/big
read -r n_repos n_files n_bytes < <(gen_cache "$big" "$BIG_REPOS" "$BIG_FILES")
echo "large cache: $n_repos repos, $n_files files"
EXP_WRAP=()
start_exporter --cache.dir "$big" --scan.mode on-scrape --scan.min-interval 0s
urls=()
for ((i = 0; i < 64; i++)); do urls+=(-o /dev/null "$URL/metrics"); done
for ((r = 1; r <= ROUNDS; r++)); do
    curl -fsS "$URL/metrics" >"$BENCH_TMP/before"
    before=$(metric hf_cache_scans_total "$BENCH_TMP/before")
    walk=$(metric hf_cache_scan_duration_seconds "$BENCH_TMP/before")
    codes=$(curl -sS --no-progress-meter --parallel --parallel-immediate --parallel-max 64 -w '%{http_code}\n' "${urls[@]}" | sort | uniq -c |
        tr -s ' ' | tr '\n' ',')
    after=$(metric hf_cache_scans_total)
    echo "single flight round $r: 64 concurrent scrapes -> $((after - before - 1)) walk(s) (walk ${walk}s; status counts:${codes%,})"
done
stop_exporter
