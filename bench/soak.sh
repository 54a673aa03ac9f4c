#!/usr/bin/env bash
# bench/soak.sh: soak of issue #6 (not a CI test; prints numbers for docs/benchmarks.md "## Server").
#
# The exporter (default on-scrape mode, min-interval 0s) serves a medium cache while, for DURATION seconds:
#   - wrk with 64 connections alternates /metrics, /download_progress?model_name=<repo> (exported repos, a repo
#     that comes and goes) and /download_progress (the root view), via a small Lua script;
#   - a mutator churns the cache: temp files appear, grow, get renamed to blobs and removed; repos are created and
#     deleted (`hf cache rm`-style);
#   - the exporter's RSS (/proc/PID/status VmRSS) is sampled every 5 s.
# Reports requests, socket errors, non-2xx responses, latency, the RSS series, and the scan-error counters.
#
# Usage: bench/soak.sh             (env: DURATION=60 REPOS=500 FILES=40; EXPORTER_ARGS for more exporter flags)
#        HEAPTRACK=/tmp/soak bench/soak.sh   runs the exporter under heaptrack (Debian), which writes
#        /tmp/soak.zst; read it with `heaptrack_print -f /tmp/soak.zst` (peak heap, leaks, top allocators).
# shellcheck source=bench/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

DURATION=${DURATION:-60}
REPOS=${REPOS:-500}
FILES=${FILES:-40}

need_tools
if [[ -n ${HEAPTRACK:-} ]]; then
    command -v heaptrack >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq heaptrack >/dev/null; }
    EXP_WRAP=(heaptrack -o "$HEAPTRACK")
fi
echo "machine: $(machine)"
echo "command: DURATION=$DURATION REPOS=$REPOS FILES=$FILES EXPORTER_ARGS='${EXPORTER_ARGS:-}' bench/soak.sh"
cache=$BENCH_TMP/cache
read -r n_repos n_files _ < <(gen_cache "$cache" "$REPOS" "$FILES")
echo "cache: $n_repos repos, $n_files files, churned during the run"
# shellcheck disable=SC2086  # EXPORTER_ARGS is split into flags on purpose
start_exporter --cache.dir "$cache" ${EXPORTER_ARGS:-}
# Under heaptrack EXP_PID is heaptrack's script; RSS is read from the exporter itself.
RSS_PID=$EXP_PID
[[ -z ${HEAPTRACK:-} ]] || RSS_PID=$(pgrep -n -f -- "^$BIN .*${URL#http://}")

cat >"$BENCH_TMP/mix.lua" <<'LUA'
local paths = {
  "/metrics",
  "/download_progress?model_name=bench/m0001",
  "/metrics",
  "/download_progress?model_name=bench/churn",
  "/download_progress",
  "/download_progress?model_name=bench/m0042",
}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
LUA

# The mutator: what downloads and `hf cache rm` do to a cache, as fast as it can, until told to stop.
cat >"$BENCH_TMP/mutator.py" <<'PY'
import os, shutil, sys, time
root, stop = sys.argv[1], sys.argv[2]
rev, n = "b" * 40, 0
while not os.path.exists(stop):
    n += 1
    repo = os.path.join(root, "models--bench--churn")
    blobs = os.path.join(repo, "blobs")
    os.makedirs(blobs, exist_ok=True)
    etag = f"{n % 97:064x}"
    tmp = os.path.join(blobs, f"{etag}.1a2b3c4d.incomplete")
    with open(tmp, "wb") as f:
        for _ in range(4):
            f.write(b"x" * 65536)
            f.flush()
    os.replace(tmp, os.path.join(blobs, etag))
    snap = os.path.join(repo, "snapshots", rev, "w.bin")
    os.makedirs(os.path.dirname(snap), exist_ok=True)
    if os.path.lexists(snap):
        os.remove(snap)
    os.symlink(f"../../blobs/{etag}", snap)
    if n % 5 == 0:
        os.remove(os.path.join(blobs, etag))
    if n % 20 == 0:
        shutil.rmtree(repo)
    eph = os.path.join(root, f"models--bench--eph{n % 7}")
    os.makedirs(os.path.join(eph, "blobs"), exist_ok=True)
    with open(os.path.join(eph, "blobs", etag), "wb") as f:
        f.truncate(1 << 20)
    if n % 3 == 0:
        shutil.rmtree(eph)
    time.sleep(0.002)
print(n, "mutations", file=sys.stderr)
PY
python3 "$BENCH_TMP/mutator.py" "$cache" "$BENCH_TMP/stop" 2>"$BENCH_TMP/mutator.log" &
MUT_PID=$!
_BENCH_PIDS+=("$MUT_PID")

wrk -t 2 -c 64 -d "${DURATION}s" --latency --timeout 10s -s "$BENCH_TMP/mix.lua" "$URL" >"$BENCH_TMP/wrk.soak" 2>&1 &
WRK_PID=$!
rss=()
while kill -0 "$WRK_PID" 2>/dev/null; do
    rss+=("$(awk '/VmRSS/ {print $2}' "/proc/$RSS_PID/status")")
    sleep 5
done
wait "$WRK_PID"
touch "$BENCH_TMP/stop"
wait "$MUT_PID"
curl -fsS "$URL/metrics" >"$BENCH_TMP/final"
kill -0 "$RSS_PID" || { say "the exporter died"; exit 1; }
echo "soak: $(wrk_summary "$BENCH_TMP/wrk.soak")"
echo "mutator: $(cat "$BENCH_TMP/mutator.log")"
echo "rss_kib every 5s: ${rss[*]}"
echo "scans: $(metric hf_cache_scans_total "$BENCH_TMP/final"); scan errors: $(grep '^hf_cache_scan_errors_total' "$BENCH_TMP/final" |
    awk '{print $1 "=" $2}' | sed 's/.*reason="\([a-z_0-9]*\)"}=/\1=/' | tr '\n' ' ')"
# heaptrack writes its file once the exporter itself has exited.
[[ -z ${HEAPTRACK:-} ]] || kill -TERM "$RSS_PID"
stop_exporter
[[ -z ${HEAPTRACK:-} ]] || echo "heap profile: $HEAPTRACK.zst (heaptrack_print -f $HEAPTRACK.zst)"
