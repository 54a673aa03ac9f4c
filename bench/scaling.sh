#!/usr/bin/env bash
# bench/scaling.sh [PRESET...]: how much a second thread can buy on this machine, for the walk's kind of work.
#
# A walk is mostly kernel work (open, getdents64, fstatat). Whatever a parallel walker does, it cannot finish one
# walk's work faster than the machine finishes two independent copies of it divided by two. So this script times,
# interleaved round by round with bench/ab.py (medians; this VM's speed drifts too much for one command's runs
# after another's), per preset (default: medium large; the caches bench/compare.sh generated):
#   - seq_walk            one sequential walk (examples/seq_walk.rs, the 1.00 baseline of compare.sh)
#   - seq_walk x2         two sequential walks at once, as two processes
#   - exporter threads=1  hf-cache-exporter scan --json --scan.threads 1
#   - exporter threads=2  the same with two threads (the default on a 2-CPU machine)
# and prints the ceiling: (seq_walk x2) / (2 x seq_walk), the best ratio to seq_walk that a perfectly parallel
# walk doing seq_walk's work could reach here; and the exporter's own speed-up from its second thread.
#
# Environment: BENCH_SEED (default 1), BENCH_RUNS (rounds, default 20), BENCH_WARMUP (default 3).
# Writes bench/.results/scaling.tsv. Not a CI test: the numbers depend on the machine and on its load.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
SEED=${BENCH_SEED:-1}
RUNS=${BENCH_RUNS:-20}
WARMUP=${BENCH_WARMUP:-3}
BIN=$PWD/target/release/hf-cache-exporter
SEQ=$PWD/target/release/examples/seq_walk
presets=("$@")
[[ ${#presets[@]} -gt 0 ]] || presets=(medium large)

say() { printf '[%s] scaling: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

cargo build --release --locked -q --bin hf-cache-exporter --example seq_walk
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p bench/.results
out=bench/.results/scaling.tsv
printf 'preset\tseq_walk_s\tseq_walk_x2_s\tceiling\texporter_t1_s\texporter_t2_s\texporter_speedup\texporter_ratio\n' >"$out"
for preset in "${presets[@]}"; do
    hub=bench/.cache/$preset-s$SEED/hub
    [[ -d $hub ]] || { say "$hub missing: run bash bench/compare.sh $preset first"; exit 1; }
    python3 bench/ab.py --rounds "$RUNS" --warmup "$WARMUP" --export-json "$tmp/ab.json" -- \
        "$SEQ" "$hub" -- \
        sh -c "$SEQ $hub >/dev/null & $SEQ $hub >/dev/null; wait" -- \
        "$BIN" scan --json --scan.threads 1 --cache.dir "$hub" -- \
        "$BIN" scan --json --scan.threads 2 --cache.dir "$hub" >&2
    python3 - "$tmp/ab.json" "$preset" >>"$out" <<'EOF'
import json, sys
one, two, t1, t2 = (x["median"] for x in json.load(open(sys.argv[1]))["results"])
print("\t".join([sys.argv[2]] + [f"{v:.4f}" for v in (one, two)] + [f"{two / (2 * one):.2f}"]
                + [f"{v:.4f}" for v in (t1, t2)] + [f"{t1 / t2:.2f}", f"{t2 / one:.2f}"]))
EOF
    say "$(tail -n 1 "$out")"
done
column -t "$out"
