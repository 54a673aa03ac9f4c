# shellcheck shell=bash
# bench/lib/common.sh: shared helpers for bench/serve.sh and bench/soak.sh (sourced, not run).
set -euo pipefail

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$BENCH_ROOT/target/release/hf-cache-exporter
BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hfce-bench.XXXXXX")
_BENCH_PIDS=()

say() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

_bench_cleanup() {
    local pid
    for pid in "${_BENCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${_BENCH_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$BENCH_TMP"
}
trap _bench_cleanup EXIT

# need_tools: build the release binary and install wrk/curl/python3 with apt-get when missing.
need_tools() {
    local missing=() t
    for t in wrk curl python3; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
    if [[ ${#missing[@]} -gt 0 ]]; then
        say "installing ${missing[*]} (apt-get)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    say "cargo build --release --locked"
    (cd "$BENCH_ROOT" && cargo build --release --locked -q)
}

# gen_cache DIR REPOS FILES_PER_REPO: print "repos files bytes".
gen_cache() {
    mkdir -p "$1"
    python3 "$BENCH_ROOT/bench/lib/simple_cache.py" "$@"
}

# EXP_WRAP: an optional command prefix for the exporter, e.g. (taskset -c 1) to pin it to one CPU.
EXP_WRAP=()

# start_exporter ARGS...: serve on a free port (under "${EXP_WRAP[@]}"); sets URL and EXP_PID.
start_exporter() {
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # --web.max-requests 0: 64 connections measure the server, not its 503 guard (default 40).
    "${EXP_WRAP[@]}" "$BIN" "$@" --web.listen-address "127.0.0.1:$port" --web.max-requests 0 --log.level warn >"$BENCH_TMP/exporter.$port.log" 2>&1 &
    EXP_PID=$!
    _BENCH_PIDS+=("$EXP_PID")
    URL=http://127.0.0.1:$port
    local i
    for ((i = 0; i < 100; i++)); do
        curl -fsS -o /dev/null "$URL/readyz" 2>/dev/null && return 0
        sleep 0.1
    done
    say "exporter did not become ready: $(tail -n 5 "$BENCH_TMP/exporter.$port.log")"
    exit 1
}

stop_exporter() {
    kill -TERM "$EXP_PID" 2>/dev/null || true
    wait "$EXP_PID" 2>/dev/null || true
}

# metric NAME [FILE]: the first sample value of NAME in FILE, or in a fresh scrape (each scrape may walk the cache
# in on-scrape mode: read several values from one saved scrape when counting walks).
metric() {
    if [[ -n ${2:-} ]]; then
        awk -v n="$1" '$1 ~ "^"n"({|$)" {print $NF; exit}' "$2"
    else
        curl -fsS "$URL/metrics" >"$BENCH_TMP/scrape"
        metric "$1" "$BENCH_TMP/scrape"
    fi
}

# wrk_summary FILE: "p50=.. p99=.. max=.. requests=.. rps=.. errors=.. non2xx=.." from `wrk --latency` output.
wrk_summary() {
    awk '
        /^ *Latency / && !lat { max = $4; lat = 1 }
        /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
        /requests in/ { req = $1 }
        /^Requests\/sec/ { rps = $2 }
        /Socket errors/ { gsub(",", ""); err = $4 + $6 + $8 + $10 }
        /Non-2xx/ { non = $NF }
        END { printf "p50=%s p99=%s max=%s requests=%s rps=%s socket_errors=%d non2xx=%d\n",
              p50, p99, max, req, rps, err, non }' "$1"
}

machine() {
    printf '%s, %s cores, %s, %s\n' "$(uname -r)" "$(nproc)" \
        "$(awk -F: '/model name/ {gsub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo)" \
        "$(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)"
}
