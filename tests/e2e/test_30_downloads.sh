#!/usr/bin/env bash
# test_30_downloads: live download tracking against the REAL huggingface_hub client.
#
# A: the client downloads the 48 MiB file of acme-org/big-model from the fake hub at 8 MiB/s (the temp file grows in
#    10 MiB steps, one every ~1.3 s) while the exporter serves with --downloads.stall-after 3s. /download_progress
#    must show downloading, growing total_size and progress; the hub then pauses mid-body, so the exporter must
#    report stalled (also hf_cache_download_stalled 1 in /metrics) but not abandoned (the client still holds its
#    lock); after resume the stall clears; at the end progress is 1.0 and downloading false.
# B: a second client is SIGKILLed mid-file. Its lock goes with it, so once the stall window passes its temp file is
#    abandoned (abandoned_count 1, downloading false, hf_cache_abandoned_files 1).
# C: huggingface_hub 0.36 (setup.d/20-hub.sh) names its temp file blobs/<etag>.incomplete and resumes it: killed,
#    the leftover is abandoned; re-run, it resumes with a Range request (seen in the hub's log) and the exporter
#    must report it downloading again, not abandoned, and complete at the end.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/fakehub/fakehub.sh
source "$E2E_ROOT/tests/fakehub/fakehub.sh"

require_cmd python3 curl jq
[[ -x $E2E_PY ]] || die "venv python $E2E_PY missing; run tests/e2e/setup.sh"

MODEL=acme-org/big-model
MiB=1048576
RATE=$((8 * MiB))
STALL_AFTER=3

start_fakehub --throttle-bps "$RATE"
# Expected total from the hub's own spec: every file of the commit `main` points to.
EXPECTED=$(curl -fsS "$FAKEHUB_URL/_control/spec" | jq --arg id "$MODEL" \
    '.[] | select(.repo_id == $id) | .commits[.refs.main] | [.[].size] | add')
[[ $EXPECTED -gt $((40 * MiB)) ]] || die "unexpected spec total '$EXPECTED' for $MODEL"
log "$MODEL: $EXPECTED bytes expected"

# start_client CACHE [PYTHON]: snapshot_download MODEL into CACHE in the background with the real client of PYTHON
# (default the e2e venv's); sets CLIENT_PID.
start_client() {
    local cache=$1 py=${2:-$E2E_PY} env_vars
    mapfile -t env_vars < <(hf_client_env "$cache")
    env -i "${env_vars[@]}" "$py" "$E2E_ROOT/tests/e2e/client_build_caches.py" --worker \
        "{\"op\": \"snapshot\", \"repo_id\": \"$MODEL\"}" >>"$cache.client.log" 2>&1 &
    CLIENT_PID=$!
    track_pid "$CLIENT_PID" "$cache.client.log"
    log "client pid $CLIENT_PID ($("$py" -c 'import huggingface_hub as h; print(h.__version__)')) downloading" \
        "$MODEL into $cache"
}

# wait_client: wait (up to 60 s) for CLIENT_PID and die unless it exited 0.
wait_client() {
    local i rc=0
    for ((i = 0; i < 240; i++)); do
        kill -0 "$CLIENT_PID" 2>/dev/null || break
        sleep 0.25
    done
    kill -0 "$CLIENT_PID" 2>/dev/null && die "client $CLIENT_PID still running after 60 s: $(tail -n 5 "$cache.client.log")"
    wait "$CLIENT_PID" || rc=$?
    [[ $rc -eq 0 ]] || die "client $CLIENT_PID failed (exit $rc): $(tail -n 5 "$cache.client.log")"
}

# progress: GET /download_progress for MODEL into $DP (JSON; '{}' if the request failed).
progress() {
    DP=$(curl -fsS --max-time 5 "$EXPORTER_URL/download_progress?model_name=$MODEL" 2>/dev/null) || DP='{}'
}

# wait_progress JQ_CONDITION TIMEOUT_S WHAT: poll /download_progress until the condition holds.
wait_progress() {
    local cond=$1 timeout=$2 what=$3 deadline=$((SECONDS + $2))
    while :; do
        progress
        if jq -e "$cond" <<<"$DP" >/dev/null 2>&1; then
            log "ok: $what"
            return 0
        fi
        ((SECONDS < deadline)) || break
        sleep 0.25
    done
    die "$what: not seen within ${timeout}s; last /download_progress: $DP"
}

# metric NAME: value of NAME{model=MODEL} from a fresh /metrics scrape.
metric() {
    local text
    text=$(http_get "$EXPORTER_URL/metrics") || die "GET /metrics failed"
    metric_value "$text" "$1" "model=\"$MODEL\"" || die "no $1 sample for $MODEL in /metrics"
}

# --- A: live download, pause -> stalled, resume -> cleared, completion ------------------------------------------
cache=$E2E_TMP/cache-live
mkdir -p "$cache"
start_exporter --cache.dir "$cache" --downloads.stall-after "${STALL_AFTER}s" --downloads.abandon-after 1h
# Pause the body once 36 MiB went out: the client has then written at least 20 MiB (10 MiB steps; loopback socket
# buffers hold a few MiB) and 12 MiB remain for after the resume.
fakehub_ctl pause "after_bytes=$((36 * MiB))" >/dev/null
start_client "$cache"

sizes=()
progs=()
deadline=$((SECONDS + 60))
while :; do
    progress
    if [[ $(jq -r '.downloading' <<<"$DP") == true ]]; then
        size=$(jq -r '.total_size' <<<"$DP")
        prog=$(jq -r '.progress' <<<"$DP")
        if [[ ${#sizes[@]} -eq 0 || $size != "${sizes[-1]}" ]]; then
            sizes+=("$size")
            progs+=("$prog")
            log "downloading: total_size=$size progress=$prog"
        fi
        [[ $(jq -r '.stalled' <<<"$DP") == false ]] ||
            die "stalled while the transfer was still flowing (10 MiB every ~1.3 s, stall-after ${STALL_AFTER}s): $DP"
    fi
    [[ $(jq -r '.abandoned_count' <<<"$DP") == 0 || $DP == '{}' ]] || die "abandoned during a live download: $DP"
    if [[ $(curl -fsS "$FAKEHUB_URL/_control/status" | jq -r '.paused') == true ]]; then
        break
    fi
    kill -0 "$CLIENT_PID" 2>/dev/null || die "client exited before the hub paused: $(tail -n 5 "$cache.client.log")"
    ((SECONDS < deadline)) || die "hub never paused the transfer (status: $(curl -fsS "$FAKEHUB_URL/_control/status"))"
    sleep 0.25
done
log "hub paused the transfer; total_size went ${sizes[*]}"
# Whatever size the exporter saw last before the pause may still be followed by one more client write.
wait_progress '.downloading == true and .total_size >= '"$((20 * MiB))" 10 "client wrote >= 20 MiB before the pause"
sizes+=("$(jq -r '.total_size' <<<"$DP")")
progs+=("$(jq -r '.progress' <<<"$DP")")
python3 - "${#sizes[@]}" "${sizes[@]}" "${progs[@]}" <<'EOF' || die "total_size/progress did not grow"
import sys
n = int(sys.argv[1]); sizes = [int(x) for x in sys.argv[2:2 + n]]; progs = [float(x) for x in sys.argv[2 + n:]]
ds = sorted(set(sizes))
assert sizes == sorted(sizes), f"total_size went backwards: {sizes}"
assert len(ds) >= 3, f"expected >= 2 increases of total_size while downloading, saw {ds}"
assert progs == sorted(progs) and 0 < progs[-1] < 1, f"progress not increasing within (0,1): {progs}"
EOF
log "ok: total_size and progress grew (${sizes[*]} / ${progs[*]})"
jq -e --argjson e "$EXPECTED" '.expected_bytes == $e' <<<"$DP" >/dev/null ||
    die "expected_bytes should be $EXPECTED (trees/<commit>.json): $DP"

wait_progress '.stalled == true and .downloading == true' $((STALL_AFTER + 10)) \
    "stalled once nothing moved for ${STALL_AFTER}s"
jq -e '.abandoned_count == 0' <<<"$DP" >/dev/null || die "a stalled download whose lock is held is not abandoned: $DP"
assert_num_eq "$(metric hf_cache_download_stalled)" 1 "hf_cache_download_stalled while paused"
assert_num_eq "$(metric hf_cache_download_active)" 1 "hf_cache_download_active while paused"
assert_num_eq "$(metric hf_cache_abandoned_files)" 0 "hf_cache_abandoned_files while paused"
# While paused the last progress time is frozen, at least STALL_AFTER in the past, and /metrics agrees.
last=$(jq -r '.last_progress' <<<"$DP")
sleep 1
progress
jq -e --argjson last "$last" --argjson now "$(date +%s.%N)" --argjson stall "$STALL_AFTER" \
    '.last_progress == $last and $now - $last >= $stall and $now - $last < 60' <<<"$DP" >/dev/null ||
    die "last_progress should stay at $last while paused (>= ${STALL_AFTER}s ago): $DP"
assert_num_eq "$(metric hf_cache_download_last_progress_timestamp_seconds)" "$last" \
    "hf_cache_download_last_progress_timestamp_seconds while paused"

fakehub_ctl resume >/dev/null
wait_progress '.stalled == false and .downloading == true' 15 "stall cleared after resume"
assert_num_eq "$(metric hf_cache_download_stalled)" 0 "hf_cache_download_stalled after resume"

wait_client
wait_progress '.downloading == false and .progress == 1 and .incomplete_count == 0' 10 "complete: progress 1.0"
jq -e --argjson e "$EXPECTED" '.total_size == $e and .stalled == false and .abandoned_count == 0' <<<"$DP" \
    >/dev/null || die "after completion expected total_size $EXPECTED, not stalled, nothing abandoned: $DP"
assert_num_eq "$(metric hf_cache_download_progress_ratio)" 1 "hf_cache_download_progress_ratio after completion"
assert_num_eq "$(metric hf_cache_download_active)" 0 "hf_cache_download_active after completion"
if metric_value "$(http_get "$EXPORTER_URL/metrics")" hf_cache_download_last_progress_timestamp_seconds \
    "model=\"$MODEL\"" >/dev/null 2>&1; then
    die "hf_cache_download_last_progress_timestamp_seconds must go away once the repo has no temp file"
fi
log "ok: no last-progress series once the download completed"

# --- B: SIGKILLed client -> abandoned -----------------------------------------------------------------------------
fakehub_ctl throttle "bps=$((4 * MiB))" >/dev/null
cache=$E2E_TMP/cache-killed
mkdir -p "$cache"
start_exporter --cache.dir "$cache" --downloads.stall-after "${STALL_AFTER}s" --downloads.abandon-after 1h
start_client "$cache"
wait_progress '.downloading == true and .incomplete_bytes > 0' 30 "second client downloading with bytes on disk"
kill -KILL "$CLIENT_PID"
wait "$CLIENT_PID" 2>/dev/null || true
log "SIGKILLed client $CLIENT_PID mid-file"
temp=$(find "$cache" -path '*/blobs/*.incomplete' -size +0 | head -n 1)
[[ -n $temp ]] || die "the killed client left no non-empty .incomplete file"
wait_progress '.abandoned_count == 1 and .downloading == false' $((STALL_AFTER + 15)) \
    "temp file abandoned once its lock is gone and ${STALL_AFTER}s passed"
assert_num_eq "$(metric hf_cache_abandoned_files)" 1 "hf_cache_abandoned_files after SIGKILL"
assert_num_eq "$(metric hf_cache_abandoned_bytes)" "$(stat -c %s "$temp")" "hf_cache_abandoned_bytes after SIGKILL"
assert_num_eq "$(metric hf_cache_download_active)" 0 "hf_cache_download_active after SIGKILL"

# --- C: huggingface_hub 0.x resumes its leftover (fixed name blobs/<etag>.incomplete) -> no longer abandoned ------
E2E_OLDHUB_VENV=${E2E_OLDHUB_VENV:-/opt/hfce-e2e-venv-hub036}
[[ -x $E2E_OLDHUB_VENV/bin/python ]] || die "old-client venv $E2E_OLDHUB_VENV missing; run tests/e2e/setup.sh"
cache=$E2E_TMP/cache-resumed
mkdir -p "$cache"
start_exporter --cache.dir "$cache" --downloads.stall-after "${STALL_AFTER}s" --downloads.abandon-after 1h
start_client "$cache" "$E2E_OLDHUB_VENV/bin/python"
wait_progress '.downloading == true and .incomplete_bytes > 0' 30 "0.x client downloading with bytes on disk"
kill -KILL "$CLIENT_PID"
wait "$CLIENT_PID" 2>/dev/null || true
temp=$(find "$cache" -path '*/blobs/*.incomplete' -size +0 | head -n 1)
[[ $temp =~ /[0-9a-f]{64}\.incomplete$ ]] || die "0.x client should leave blobs/<sha256>.incomplete, found '$temp'"
left=$(stat -c %s "$temp")
wait_progress '.abandoned_count == 1 and .downloading == false' $((STALL_AFTER + 15)) "0.x leftover abandoned"
requests_before=$(wc -l <"$FAKEHUB_REQUESTS")
fakehub_ctl throttle "bps=$RATE" >/dev/null
start_client "$cache" "$E2E_OLDHUB_VENV/bin/python"
wait_progress '.downloading == true and .abandoned_count == 0' 20 "resumed leftover is downloading, not abandoned"
wait_client
tail -n +"$((requests_before + 1))" "$FAKEHUB_REQUESTS" | jq -e --arg r "bytes=$left-" 'select(.range == $r)' \
    >/dev/null || die "the 0.x client did not resume with Range: bytes=$left- (see $FAKEHUB_REQUESTS)"
log "ok: the 0.x client resumed its leftover with Range: bytes=$left-"
# 0.x writes no trees/<commit>.json, so there is no expected size and no progress ratio (contract).
wait_progress '.downloading == false and .abandoned_count == 0 and .incomplete_count == 0 and .total_size == '"$EXPECTED"' and .expected_bytes == null and .progress == null' 10 \
    "resumed download complete ($EXPECTED bytes), nothing abandoned, no progress without trees/"
log "PASS"
