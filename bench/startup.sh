#!/usr/bin/env bash
# bench/startup.sh [BIN]: where a tiny one-shot scan's time goes, against seq_walk. On a 40-file cache a whole run
# is about 2 ms and mostly process start, so the scan itself says little; this prints, per command, `perf stat`'s
# task-clock, page faults and wall time over many runs, then a `perf record` of the small preset split by object
# (the binary, libc, ld.so, libgcc_s, kernel).
#
#   env: RUNS=400 (perf stat repeats), RECORD_RUNS=300, FREQ=20000 (perf record sampling rate, Hz)
#   needs: perf (Debian: linux-perf), the small cache (bash bench/compare.sh small), cargo build --release --examples
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=${1:-target/release/hf-cache-exporter}
seq=target/release/examples/seq_walk
small=bench/.cache/small-s1/hub
runs=${RUNS:-400}
record_runs=${RECORD_RUNS:-300}
freq=${FREQ:-20000}
command -v perf >/dev/null || { echo "perf not found (apt-get install linux-perf)" >&2; exit 1; }
[[ -d $small ]] || { echo "$small missing: run bash bench/compare.sh small first" >&2; exit 1; }
[[ -x $seq ]] || { echo "$seq missing: cargo build --release --examples" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/empty"

stat_line() { # label, command...
    local label=$1
    shift
    perf stat -r "$runs" -e task-clock,page-faults "$@" 2>&1 >/dev/null | awk -v l="$label" '
        /task-clock/ { cpu = $1 } /page-faults/ { pf = $1 } /seconds time elapsed/ { wall = $1 * 1000 }
        END { printf "| %s | %.2f ms | %.2f ms | %s |\n", l, wall, cpu, pf }'
}

echo "perf stat, $runs runs each, warm:"
echo
echo "| command | wall | task-clock | page faults |"
echo "|---|---|---|---|"
stat_line "seq_walk, empty cache" "$seq" "$tmp/empty"
stat_line "exporter --version" "$bin" --version
stat_line "exporter scan --json, empty cache" "$bin" scan --json --cache.dir "$tmp/empty"
stat_line "seq_walk, small preset" "$seq" "$small"
stat_line "exporter scan --json, small preset" "$bin" scan --json --cache.dir "$small"

split() { # comm, command...
    local comm=$1
    shift
    perf record -q -F "$freq" -a -o "$tmp/rec" -- bash -c \
        'for _ in $(seq "$0"); do "$@" >/dev/null; done' "$record_runs" "$@" 2>/dev/null
    # perf cuts comm names to 15 characters; `--comm` with `--sort dso` drops objects, so filter here.
    perf report -i "$tmp/rec" --stdio -n --sort comm,dso 2>/dev/null |
        awk -v c="${comm:0:15}" -v name="$comm" -v f="$freq" -v r="$record_runs" '
            !/^#/ && $3 == c { n[$4] = $2; total += $2 }
            END {
                for (d in n) if (n[d] / total >= 0.02)
                    printf "| %s | %s | %.0f %% | %.0f |\n", name, d, 100 * n[d] / total, n[d] / f / r * 1e6
                printf "| %s | all | 100 %% | %.0f |\n", name, total / f / r * 1e6
            }' | sort -t'|' -k5 -rn
}

echo
echo "perf record -F $freq -a, $record_runs runs of the small preset, CPU samples by object (>= 2 % shown); the"
echo "sampling itself slows the runs, so read the shares, not the microseconds:"
echo
echo "| program | object | share | us per run |"
echo "|---|---|---|---|"
split seq_walk "$seq" "$small"
split "$(basename "$bin")" "$bin" scan --json --cache.dir "$small"
