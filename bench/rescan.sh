#!/usr/bin/env bash
# bench/rescan.sh [PRESET...]: how long the server's rescans of an unchanged cache take, full against
# incremental, measured inside the process (hf_cache_scan_duration_seconds, the walk alone).
#
# For each preset (default: medium large; the caches compare.sh generated, under bench/.cache/<preset>-s<seed>),
# the exporter runs on 127.0.0.1 in on-scrape mode twice: with --scan.full-every 0 (every scan lists
# everything) and with the default 10m (the first scan is full, the next ones reuse unchanged directories).
# Each is scraped ROUNDS times; the script prints the median scan duration of scrapes 2..ROUNDS, the process CPU
# time per scrape over those scrapes (process_cpu_seconds_total, whole process: scan, render, HTTP; a figure that
# other load on the machine disturbs less than wall time), and checks that the two modes export the same
# hf_cache_bytes and hf_cache_files. Writes bench/.results/rescan.tsv.
#
# Environment: BENCH_SEED (default 1), ROUNDS (default 21), EXPORTER_ARGS (more flags for the exporter, e.g.
# "--downloads.lock-probe off" to see the walk without the /proc/locks read). Run bench/compare.sh first (it makes the caches).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
SEED=${BENCH_SEED:-1}
ROUNDS=${ROUNDS:-21}
BIN=$REPO/target/release/hf-cache-exporter
presets=("$@")
[[ ${#presets[@]} -gt 0 ]] || presets=(medium large)

say() { printf '[%s] rescan: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

cargo build --release --locked -q
tmp=$(mktemp -d)
pid=""
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

# run_mode HUB FULL_EVERY: print the median scan seconds of scrapes 2..ROUNDS and the CPU seconds per scrape over
# them; leave the last scrape in $tmp/last.
run_mode() {
    local hub=$1 every=$2 port i
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$BIN" --cache.dir "$hub" --scan.full-every "$every" --web.listen-address "127.0.0.1:$port" \
        --log.level warn ${EXPORTER_ARGS:-} >"$tmp/exporter.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 100; i++)); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
        sleep 0.05
    done
    : >"$tmp/durations"
    for ((i = 1; i <= ROUNDS; i++)); do
        curl -fsS "http://127.0.0.1:$port/metrics" >"$tmp/last" || die "scrape $i failed: $(tail -n 3 "$tmp/exporter.log")"
        if ((i > 1)); then
            awk '/^hf_cache_scan_duration_seconds\{/ {print $2}' "$tmp/last" >>"$tmp/durations"
        fi
        if ((i == 1)); then cpu0=$(awk '/^process_cpu_seconds_total / {print $2}' "$tmp/last"); fi
    done
    cpu1=$(awk '/^process_cpu_seconds_total / {print $2}' "$tmp/last")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
    median=$(sort -g "$tmp/durations" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    echo "$median $(awk -v a="$cpu0" -v b="$cpu1" -v n="$((ROUNDS - 1))" 'BEGIN {printf "%.4f", (b - a) / n}')"
}

# totals FILE: the per-repo byte and file series, sorted, for comparing the two modes.
totals() { grep -E '^hf_cache_(bytes|files)\{' "$1" | sort; }

mkdir -p bench/.results
out=bench/.results/rescan.tsv
printf 'preset\tfull_seconds\tincremental_seconds\tratio\tfull_cpu_seconds\tincremental_cpu_seconds\tcpu_ratio\n' >"$out"
for preset in "${presets[@]}"; do
    hub=$REPO/bench/.cache/$preset-s$SEED/hub
    [[ -d $hub ]] || die "$hub missing: run bash bench/compare.sh $preset first"
    res=$(run_mode "$hub" 0s)
    read -r full full_cpu <<<"$res"
    totals "$tmp/last" >"$tmp/full.totals"
    res=$(run_mode "$hub" 10m)
    read -r inc inc_cpu <<<"$res"
    totals "$tmp/last" >"$tmp/inc.totals"
    cmp -s "$tmp/full.totals" "$tmp/inc.totals" || die "$preset: incremental and full scans export different totals"
    ratio=$(awk -v f="$full" -v i="$inc" 'BEGIN {printf "%.3f", i / f}')
    cpu_ratio=$(awk -v f="$full_cpu" -v i="$inc_cpu" 'BEGIN {printf "%.3f", i / f}')
    say "$preset: full ${full}s, incremental ${inc}s (median of $((ROUNDS - 1)) scrapes), ratio $ratio; CPU per scrape ${full_cpu}s vs ${inc_cpu}s, ratio $cpu_ratio; same totals"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$preset" "$full" "$inc" "$ratio" "$full_cpu" "$inc_cpu" "$cpu_ratio" >>"$out"
done
cat "$out"
