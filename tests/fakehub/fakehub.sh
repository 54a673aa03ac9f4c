# shellcheck shell=bash
# tests/fakehub/fakehub.sh: bash helpers to run tests/fakehub/fake_hub.py from an e2e test. Source it after
# tests/e2e/lib.sh (it uses track_pid, log, die and $E2E_TMP):
#
#     source "$E2E_ROOT/tests/fakehub/fakehub.sh"
#     start_fakehub [--throttle-bps N]        # sets FAKEHUB_URL, FAKEHUB_PID, FAKEHUB_LOG, FAKEHUB_REQUESTS
#     fakehub_ctl throttle bps=8388608        # POST /_control/throttle?bps=8388608
#     fakehub_ctl pause after_bytes=25000000
#     fakehub_ctl resume
#     hf_client_env CACHE_DIR [VAR=VALUE...]  # prints env assignments for a real-client subprocess
#
# The hub is started with the python3 on PATH (stdlib only) and stopped by lib.sh's EXIT trap.

FAKEHUB_PY=${FAKEHUB_PY:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/fake_hub.py}

# start_fakehub [FAKE_HUB_ARGS...]: start the fake hub on a free 127.0.0.1 port and wait until it answers.
start_fakehub() {
    local dir=$E2E_TMP/fakehub i
    mkdir -p "$dir"
    rm -f "$dir/port"
    FAKEHUB_LOG=$dir/fakehub.out
    FAKEHUB_REQUESTS=$dir/requests.jsonl
    python3 "$FAKEHUB_PY" --port-file "$dir/port" --log "$FAKEHUB_REQUESTS" "$@" >"$FAKEHUB_LOG" 2>&1 &
    FAKEHUB_PID=$!
    track_pid "$FAKEHUB_PID" "$FAKEHUB_LOG"
    for ((i = 0; i < 300; i++)); do
        [[ -s $dir/port ]] && break
        kill -0 "$FAKEHUB_PID" 2>/dev/null || die "fake hub exited at start: $(tail -n 5 "$FAKEHUB_LOG")"
        sleep 0.1
    done
    [[ -s $dir/port ]] || die "fake hub wrote no port file within 30 s"
    FAKEHUB_URL=http://127.0.0.1:$(<"$dir/port")
    wait_http "$FAKEHUB_URL/_control/status" 10 "$FAKEHUB_PID" || die "fake hub not answering at $FAKEHUB_URL"
    export FAKEHUB_URL FAKEHUB_PID FAKEHUB_LOG FAKEHUB_REQUESTS
    log "fake hub pid $FAKEHUB_PID on $FAKEHUB_URL"
}

# fakehub_ctl ACTION [KEY=VALUE...]: POST /_control/ACTION?KEY=VALUE&...; prints the hub's status JSON.
fakehub_ctl() {
    local action=$1 query
    shift
    query=$(IFS='&'; echo "$*")
    curl -fsS --max-time 10 -X POST "$FAKEHUB_URL/_control/$action${query:+?$query}"
}

# hf_client_env CACHE_DIR [VAR=VALUE...]: the environment for a huggingface_hub subprocess that downloads from the
# fake hub into CACHE_DIR (isolated HF_HOME next to it, no Xet, no token, no proxy). Use as:
#     env -i "${base_env[@]}" $(hf_client_env DIR) "$E2E_PY" ...   or   mapfile -t e < <(hf_client_env DIR)
hf_client_env() {
    local cache=$1
    shift
    printf '%s\n' "PATH=$PATH" "HOME=${HOME:-/root}" "HF_ENDPOINT=$FAKEHUB_URL" "HF_HUB_CACHE=$cache" \
        "HF_HOME=$cache.home" "HF_HUB_DISABLE_XET=1" "HF_HUB_DISABLE_TELEMETRY=1" \
        "HF_HUB_DISABLE_PROGRESS_BARS=1" "HF_HUB_DISABLE_IMPLICIT_TOKEN=1" "HF_HUB_DOWNLOAD_TIMEOUT=60" \
        "NO_PROXY=127.0.0.1,localhost" "no_proxy=127.0.0.1,localhost" "$@"
}
