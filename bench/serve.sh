#!/usr/bin/env bash
# bench/serve.sh: server benchmarks of issue #5 (not a CI test; prints numbers for docs/benchmarks.md "## Server").
#
#   1. Latency: wrk, 64 connections, DURATION seconds on /metrics of a medium cache (REPOS x FILES symlinked files),
#      once in on-scrape mode with --scan.min-interval 0s (every scrape that finds no walk running starts one) and
#      once in interval mode (--scan.interval 1s, so scans keep running in the background). p50/p99/max and errors.
#   2. Single flight: a large cache whose walk takes a while, on-scrape mode, min-interval 0s; 64 requests fired at
#      once (curl --parallel --parallel-immediate --parallel-max 64); the delta of hf_cache_scans_total, minus the
#      one walk of the scrape that reads it afterwards, is the number of walks the 64 caused. Repeated ROUNDS times.
#
# Usage: bench/serve.sh            (env: DURATION=60 REPOS=500 FILES=40 BIG_REPOS=200 BIG_FILES=500 ROUNDS=5)
# shellcheck source=bench/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

DURATION=${DURATION:-60}
REPOS=${REPOS:-500}
FILES=${FILES:-40}
BIG_REPOS=${BIG_REPOS:-200}
BIG_FILES=${BIG_FILES:-500}
ROUNDS=${ROUNDS:-5}

need_tools
echo "machine: $(machine)"
echo "command: DURATION=$DURATION REPOS=$REPOS FILES=$FILES BIG_REPOS=$BIG_REPOS BIG_FILES=$BIG_FILES ROUNDS=$ROUNDS bench/serve.sh"

medium=$BENCH_TMP/medium
read -r n_repos n_files n_bytes < <(gen_cache "$medium" "$REPOS" "$FILES")
echo "medium cache: $n_repos repos, $n_files files, $n_bytes bytes"

for mode in on-scrape interval; do
    if [[ $mode == on-scrape ]]; then
        start_exporter --cache.dir "$medium" --scan.mode on-scrape --scan.min-interval 0s
    else
        start_exporter --cache.dir "$medium" --scan.mode interval --scan.interval 1s
    fi
    got=$(curl -fsS "$URL/metrics" | awk '$1 ~ /^hf_cache_bytes\{/ {s += $NF} END {printf "%.0f", s}')
    [[ $got == "$n_bytes" ]] || { say "exporter reports $got bytes, generator $n_bytes"; exit 1; }
    curl -fsS "$URL/metrics" >"$BENCH_TMP/before"
    scans0=$(metric hf_cache_scans_total "$BENCH_TMP/before")
    walk=$(metric hf_cache_scan_duration_seconds "$BENCH_TMP/before")
    wrk -t 2 -c 64 -d "${DURATION}s" --latency --timeout 10s "$URL/metrics" >"$BENCH_TMP/wrk.$mode" 2>&1
    scans1=$(metric hf_cache_scans_total)
    rss=$(awk '/VmRSS/ {print $2 " " $3}' "/proc/$EXP_PID/status")
    echo "latency $mode: $(wrk_summary "$BENCH_TMP/wrk.$mode") walk=${walk}s walks_during_run=$((scans1 - scans0 - 1)) rss=$rss"
    stop_exporter
done

big=$BENCH_TMP/big
read -r n_repos n_files n_bytes < <(gen_cache "$big" "$BIG_REPOS" "$BIG_FILES")
echo "large cache: $n_repos repos, $n_files files"
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
