#!/usr/bin/env bash
# bench/compare.sh [PRESET...]: the cache-scan benchmark in one command (default presets: medium large).
#
# For each preset: generate the synthetic cache with bench/gen_cache.py (kept in bench/.cache and reused while the
# seed and the generator are unchanged), check that the exporter's `scan --json` equals the generator's expected
# totals (bench/check_totals.py; a mismatch stops the run), then run ONE hyperfine with every contender side by
# side (warm page cache), /usr/bin/time -v for each contender's peak RSS, and strace -f -c for the syscalls of the
# exporter and of the seq_walk baseline. Two more rows are the issue's reference walkers, examples/par_walk.rs on
# one thread (raw getdents64 + fstatat) and on two (split inside directories): the floor for this design on this
# machine, doing none of the exporter's other work. The exporter runs twice: as `cargo build --release` links it
# (dynamic) and as scripts/build-static.sh links it for the Docker image (static PIE: no shared libraries to load
# at start-up); seq_walk runs linked both ways too, so the static exporter is also compared like with like (on a
# small cache, start-up is most of the time and linking decides much of it). Results land in
# bench/.results/<preset>/; bench/report.py then rewrites the cache-scan part of docs/benchmarks.md from every
# preset that has results.
#
# The huge preset (~1M files) only checks that a full scan completes, with bounded RSS and correct numbers: it is
# generated, verified and timed once per contender that finishes in reasonable time, without hyperfine.
#
# Environment: BENCH_SEED (default 1), BENCH_RUNS (hyperfine --min-runs, default 10), BENCH_WARMUP (default 3),
# BENCH_NO_REPORT=1 (leave docs/benchmarks.md alone). Run bench/setup.sh once first.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
SEED=${BENCH_SEED:-1}
RUNS=${BENCH_RUNS:-10}
WARMUP=${BENCH_WARMUP:-3}
PY=$REPO/bench/.venv/bin/python
DISKUS=$REPO/bench/.tools/bin/diskus
BIN=$REPO/target/release/hf-cache-exporter
STATIC=$REPO/target/static/hf-cache-exporter
SEQ=$REPO/target/release/examples/seq_walk
SEQ_STATIC=$REPO/target/static/seq_walk
PAR=$REPO/target/release/examples/par_walk
presets=("$@")
[[ ${#presets[@]} -gt 0 ]] || presets=(medium large)

say() { printf '[%s] compare: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

for tool in hyperfine strace /usr/bin/time "$DISKUS" "$PY"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found; run bench/setup.sh first"
done

say "cargo build --release --locked (exporter + examples/seq_walk, examples/par_walk)"
cargo build --release --locked --bin hf-cache-exporter --example seq_walk --example par_walk
say "scripts/build-static.sh (the static PIE the Docker image ships)"
bash scripts/build-static.sh "$STATIC" >/dev/null
say "seq_walk linked the same way (explicit --target, as scripts/build-static.sh does)"
host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --locked --target "$host" --example seq_walk
install -D -m 0755 "${CARGO_TARGET_DIR:-target}/$host/release/examples/seq_walk" "$SEQ_STATIC"

# generate PRESET DIR: (re)generate unless DIR holds a cache from this seed and this generator source.
generate() {
    local preset=$1 dir=$2 stamp
    stamp="seed=$SEED $(cat bench/gen_cache.py bench/cachewriter.py | sha256sum | cut -c1-16)"
    if [[ -f $dir/expected.json && -f $dir/.stamp && $(cat "$dir/.stamp") == "$stamp" ]]; then
        say "$preset: reusing $dir ($stamp)"
        return
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    local t0 t1
    t0=$(date +%s.%N)
    python3 bench/gen_cache.py --preset "$preset" --out "$dir" --seed "$SEED"
    t1=$(date +%s.%N)
    echo "$stamp" >"$dir/.stamp"
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f\n", b - a}' >"$dir/.gen_seconds"
}

# peak_rss OUT NAME CMD...: run once under /usr/bin/time -v, append "NAME<TAB>max RSS KiB<TAB>wall s" to OUT.
peak_rss() {
    local out=$1 name=$2
    shift 2
    local log
    log=$(mktemp)
    /usr/bin/time -v "$@" >/dev/null 2>"$log" || { cat "$log" >&2; die "$name failed under /usr/bin/time"; }
    local rss wall
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
    printf '%s\t%s\t%s\n' "$name" "$rss" "$wall" >>"$out"
    rm -f "$log"
}

for preset in "${presets[@]}"; do
    dir=$REPO/bench/.cache/$preset-s$SEED
    hub=$dir/hub
    res=$REPO/bench/.results/$preset
    generate "$preset" "$dir"
    rm -rf "$res"
    mkdir -p "$res"
    cp "$dir/expected.json" "$res/expected.json"
    cp "$dir/.gen_seconds" "$res/gen_seconds" 2>/dev/null || true

    say "$preset: checking the exporter's totals against the generator's"
    "$BIN" scan --json --cache.dir "$hub" >"$res/scan.json"
    python3 bench/check_totals.py "$res/expected.json" "$res/scan.json" | tee "$res/check.txt"
    "$STATIC" scan --json --cache.dir "$hub" >"$res/scan.static.json"
    python3 bench/check_totals.py "$res/expected.json" "$res/scan.static.json" >/dev/null ||
        die "$preset: the static binary's totals differ from the generator's"

    mapfile -t folders < <(cd "$hub" && LC_ALL=C compgen -G '*--*' | LC_ALL=C sort)
    # The reference walkers must add up what seq_walk does, or their times mean nothing.
    cmp -s <("$SEQ" "$hub") <("$SEQ_STATIC" "$hub") || die "$preset: the static seq_walk's totals differ"
    for threads in 1 2; do
        cmp -s <("$SEQ" "$hub") <("$PAR" "$threads" "$hub") ||
            die "$preset: par_walk $threads's per-repo totals differ from seq_walk's"
    done
    # The huge preset times only the first three.
    names=(exporter seq_walk py_walk scan_cache_dir du_sb diskus exporter_static seq_walk_static raw_walk par_walk)
    cmds=(
        "$BIN scan --json --cache.dir $hub"
        "$SEQ $hub"
        "$PY $REPO/bench/py_walk.py $hub"
        "$PY $REPO/bench/py_scan_cache_dir.py $hub"
        "du -sb ${folders[*]/#/$hub/}"
        "$DISKUS $hub"
        "$STATIC scan --json --cache.dir $hub"
        "$SEQ_STATIC $hub"
        "$PAR 1 $hub"
        "$PAR 2 $hub"
    )
    : >"$res/rss.tsv"
    if [[ $preset == huge ]]; then
        # One timed run each: hyperfine over the Python contenders would take many minutes here.
        for i in 0 1 2; do
            # shellcheck disable=SC2086  # the command strings are word-split on purpose
            peak_rss "$res/rss.tsv" "${names[$i]}" ${cmds[$i]}
        done
    else
        hf_args=(--warmup "$WARMUP" --min-runs "$RUNS" -N --export-json "$res/hyperfine.json")
        for i in "${!names[@]}"; do
            hf_args+=(-n "${names[$i]}" "${cmds[$i]}")
        done
        say "$preset: hyperfine ${names[*]}"
        hyperfine "${hf_args[@]}" | tee "$res/hyperfine.txt"
        for i in "${!names[@]}"; do
            # shellcheck disable=SC2086
            peak_rss "$res/rss.tsv" "${names[$i]}" ${cmds[$i]}
        done
    fi

    # Each program is also traced on an empty root, so process start-up can be subtracted from the per-file ratios.
    say "$preset: strace -f -c (exporter, seq_walk)"
    mkdir -p "$dir/empty"
    for who in exporter seq_walk; do
        for root in "$hub" "$dir/empty"; do
            out=$res/strace.$who.txt
            [[ $root == "$hub" ]] || out=$res/strace.$who.empty.txt
            cmd=("$SEQ" "$root")
            [[ $who == seq_walk ]] || cmd=("$BIN" scan --json --cache.dir "$root")
            strace -f -c -o "$out" "${cmd[@]}" >/dev/null
            # newfstatat(fd, "", AT_EMPTY_PATH) is an fstat of an open descriptor (glibc opendir's of each
            # directory it opens), not a stat of an entry: count it apart.
            strace -f -qq -e trace=newfstatat -o "$out.fstatat" "${cmd[@]}" >/dev/null
            grep -c AT_EMPTY_PATH "$out.fstatat" >"${out%.txt}.emptypath" || true
            rm -f "$out.fstatat"
        done
    done

    {
        echo "preset=$preset"
        echo "seed=$SEED"
        echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "revision=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo '+dirty')"
        echo "nproc=$(nproc)"
        echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
        echo "kernel=$(uname -r)"
        echo "fstype=$(df --output=fstype "$hub" | tail -n 1)"
        echo "hyperfine=$(hyperfine --version)"
        echo "diskus=$("$DISKUS" --version)"
        echo "python=$("$PY" --version 2>&1)"
        echo "huggingface_hub=$("$PY" -c 'import huggingface_hub; print(huggingface_hub.__version__)')"
        echo "du=$(du --version | head -n 1)"
    } >"$res/machine.txt"
done

if [[ ${BENCH_NO_REPORT:-0} != 1 ]]; then
    python3 bench/report.py bench/.results docs/benchmarks.md
    say "wrote docs/benchmarks.md"
fi
