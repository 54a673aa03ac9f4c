#!/usr/bin/env bash
# bench/instructions.sh [BIN...]: user-space instructions of one one-thread `scan --json` per preset, counted by
# valgrind's callgrind. Unlike a timing, the count repeats (to a few hundred) for the same binary and cache, whatever
# else the machine does, so it shows CPU work a change saves even where the machine's drift hides it (a scan of
# these caches is mostly kernel time, which callgrind does not count). One line per binary and preset; the first
# binary is the 1.00 reference. Default BIN: target/release/hf-cache-exporter.
#
#   env: PRESETS="small medium large" (caches made by bench/compare.sh in bench/.cache/<preset>-s1/hub)
#   e.g. bash bench/instructions.sh /tmp/old-hf-cache-exporter target/release/hf-cache-exporter
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bins=("$@")
[[ ${#bins[@]} -gt 0 ]] || bins=(target/release/hf-cache-exporter)
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for preset in ${PRESETS:-small medium large}; do
    hub=bench/.cache/$preset-s1/hub
    [[ -d $hub ]] || { echo "$hub missing: run bash bench/compare.sh $preset first" >&2; exit 1; }
    ref=
    for bin in "${bins[@]}"; do
        n=$(valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" scan --json --scan.threads 1 \
            --cache.dir "$hub" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
        ref=${ref:-$n}
        printf '%-7s %12s instructions  %5s  %s\n' "$preset" "$n" "$(awk -v a="$n" -v b="$ref" 'BEGIN { printf "%.2f", a / b }')" "$bin"
    done
done
