# shellcheck shell=bash disable=SC2034  # EXPORTER_* and PROM_* are set here for the test scripts
# tests/e2e/lib.sh: helpers for the end-to-end test scripts. Source it first thing in a tests/e2e/test_*.sh:
#
#     source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sourcing it turns on `set -euo pipefail`, creates the test's own scratch dir $E2E_TMP (mktemp -d) and installs an
# EXIT trap that kills every process started through these helpers (or registered with track_pid), prints the tail
# of their logs if the test failed, and removes $E2E_TMP (kept when E2E_KEEP_TMP=1). Do not replace that trap; add
# your own cleanup with `on_exit CMD`.
#
# Variables it reads: HFCE_BIN (exporter binary; default <repo>/target/release/hf-cache-exporter), E2E_VENV
# (default /opt/hfce-e2e-venv), E2E_KEEP_TMP. Variables it sets: E2E_ROOT (repo root), E2E_TMP, E2E_PY (the venv's
# python), and, from the start_* helpers, EXPORTER_URL/EXPORTER_ADDR/EXPORTER_PID/EXPORTER_LOG and
# PROM_URL/PROM_ADDR/PROM_PID/PROM_LOG.
set -euo pipefail

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_VENV=${E2E_VENV:-/opt/hfce-e2e-venv}
E2E_PY=$E2E_VENV/bin/python
HFCE_BIN=${HFCE_BIN:-$E2E_ROOT/target/release/hf-cache-exporter}
E2E_NAME=$(basename "$0" .sh)
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hfce-$E2E_NAME.XXXXXX")
export E2E_ROOT E2E_VENV E2E_PY HFCE_BIN E2E_TMP

_E2E_PIDS=()
_E2E_LOGS=()
_E2E_ON_EXIT=()
_E2E_ON_FAIL=()
_E2E_FAIL_MSG=""
_E2E_SEQ=0

# log MSG...: progress message on stderr, prefixed with the time and the test's name.
log() { printf '[%s] %s: %s\n' "$(date -u +%H:%M:%S)" "$E2E_NAME" "$*" >&2; }

# die MSG...: report a test failure and exit 1 (the EXIT trap then cleans up and shows the logs).
# The message is also kept in $E2E_RESULT_FILE (set by run.sh) so the run's summary, the last thing CI shows, can
# say why each test failed.
die() {
    _E2E_FAIL_MSG="[$(date -u +%H:%M:%S)] $E2E_NAME: FAIL: $*"
    printf '%s\n' "$_E2E_FAIL_MSG" >&2
    if [[ -n ${E2E_RESULT_FILE:-} ]]; then printf '%s\n' "${_E2E_FAIL_MSG:0:600}" >"$E2E_RESULT_FILE"; fi
    exit 1
}

# on_exit CMD: run the shell command CMD at exit, before processes are killed (last registered runs first).
on_exit() { _E2E_ON_EXIT=("$1" "${_E2E_ON_EXIT[@]}"); }

# on_fail CMD: if the test fails, run the shell command CMD after the logs are shown and before processes are
# stopped; for a few lines of state (what the services think) that explain the failure better than logs do.
on_fail() { _E2E_ON_FAIL+=("$1"); }

# track_pid PID [LOGFILE]: have the EXIT trap kill PID, and show LOGFILE's tail if the test fails.
track_pid() {
    _E2E_PIDS+=("$1")
    if [[ -n ${2:-} ]]; then _E2E_LOGS+=("$2"); fi
}

# require_cmd CMD...: die unless every command is on PATH (tells the reader to run setup.sh).
require_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || die "command '$c' not found; run tests/e2e/setup.sh first"
    done
}

# _e2e_stop PID: SIGTERM, up to 5 s grace, then SIGKILL; reaps it if it is our child.
_e2e_stop() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 5 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

_e2e_cleanup() {
    local rc=$? cmd pid f
    set +e
    for cmd in "${_E2E_ON_EXIT[@]}"; do eval "$cmd"; done
    # Logs first, so they show the state at the failure rather than the shutdown chatter.
    if [[ $rc -ne 0 ]]; then
        for f in "${_E2E_LOGS[@]}"; do
            [[ -s $f ]] || continue
            printf -- '----- last 40 lines of %s -----\n' "$f" >&2
            tail -n 40 "$f" >&2
        done
        for cmd in "${_E2E_ON_FAIL[@]}"; do
            printf -- '----- state: %s -----\n' "$cmd" >&2
            (eval "$cmd") 2>&1 | cut -c1-400 | tail -n 15 >&2
        done
        # Again, last: CI shows only the tail of the output.
        if [[ -n $_E2E_FAIL_MSG ]]; then printf '%s\n' "$_E2E_FAIL_MSG" >&2; fi
    fi
    for pid in "${_E2E_PIDS[@]}"; do _e2e_stop "$pid"; done
    if [[ ${E2E_KEEP_TMP:-0} == 1 ]]; then
        log "keeping $E2E_TMP"
    else
        rm -rf "$E2E_TMP"
    fi
    exit "$rc"
}
trap _e2e_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port: print a TCP port on 127.0.0.1 that the kernel just reported free (bind to port 0, then close).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL [TIMEOUT_S=10] [PID]: wait until URL answers 2xx; fail early if PID (when given) has exited.
wait_http() {
    local url=$1 timeout=${2:-10} pid=${3:-}
    local deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
            return 0
        fi
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            log "wait_http: process $pid exited while waiting for $url"
            return 1
        fi
        sleep 0.1
    done
    log "wait_http: $url not answering 2xx after ${timeout}s"
    return 1
}

# http_get URL [CURL_ARGS...]: print the body of a 2xx response; fail (with curl's message) otherwise.
http_get() {
    local url=$1
    shift
    curl -fsS --max-time 10 "$@" "$url"
}

# start_exporter ARGS...: run "$HFCE_BIN ARGS... --web.listen-address 127.0.0.1:PORT" in the background on a free
# port, wait for /healthz, and set EXPORTER_URL (http://127.0.0.1:PORT), EXPORTER_ADDR, EXPORTER_PID, EXPORTER_LOG.
# Retries with a new port if another process grabbed the port in the meantime. EXPORTER_LISTEN_HOST replaces
# 127.0.0.1 in the flag (e.g. `localhost`, to make the exporter resolve a name); it must still listen there.
start_exporter() {
    [[ -x $HFCE_BIN ]] || die "exporter binary '$HFCE_BIN' missing; build it (cargo build --release) or set HFCE_BIN"
    local attempt port pid logf
    for attempt in 1 2 3; do
        port=$(free_port)
        _E2E_SEQ=$((_E2E_SEQ + 1))
        logf=$E2E_TMP/exporter.$_E2E_SEQ.log
        "$HFCE_BIN" "$@" --web.listen-address "${EXPORTER_LISTEN_HOST:-127.0.0.1}:$port" >"$logf" 2>&1 &
        pid=$!
        track_pid "$pid" "$logf"
        if wait_http "http://127.0.0.1:$port/healthz" 15 "$pid"; then
            EXPORTER_ADDR=127.0.0.1:$port
            EXPORTER_URL=http://$EXPORTER_ADDR
            EXPORTER_PID=$pid
            EXPORTER_LOG=$logf
            log "exporter pid $pid listening on $EXPORTER_URL (log $logf)"
            return 0
        fi
        _e2e_stop "$pid"
        if ! grep -qiE 'address (already )?in use|os error 98' "$logf"; then
            break
        fi
        log "port $port was taken (attempt $attempt); retrying"
    done
    die "exporter did not become healthy: $HFCE_BIN $* (log: $(tail -n 5 "$logf" | tr '\n' ' '))"
}

# prom_scrape_config TARGET [INTERVAL=1s] [JOB=hf-cache-exporter]: print a minimal prometheus.yml scraping TARGET
# (host:port); append more YAML (rule_files, alerting) to the file yourself if the test needs it.
prom_scrape_config() {
    local target=$1 interval=${2:-1s} job=${3:-hf-cache-exporter}
    cat <<EOF
global:
  scrape_interval: $interval
  evaluation_interval: $interval
scrape_configs:
  - job_name: $job
    scrape_interval: $interval
    scrape_timeout: $interval
    static_configs:
      - targets: ['$target']
EOF
}

# start_prometheus CONFIG [EXTRA_ARGS...]: run Debian's prometheus with CONFIG, TSDB under $E2E_TMP, on a free
# loopback port; wait for /-/ready; set PROM_URL, PROM_ADDR, PROM_PID, PROM_LOG.
start_prometheus() {
    require_cmd prometheus
    local config=$1 attempt port pid logf data
    shift
    for attempt in 1 2 3; do
        port=$(free_port)
        _E2E_SEQ=$((_E2E_SEQ + 1))
        logf=$E2E_TMP/prometheus.$_E2E_SEQ.log
        data=$E2E_TMP/prometheus-data.$_E2E_SEQ
        prometheus --config.file="$config" --storage.tsdb.path="$data" \
            --web.listen-address="127.0.0.1:$port" "$@" >"$logf" 2>&1 &
        pid=$!
        track_pid "$pid" "$logf"
        if wait_http "http://127.0.0.1:$port/-/ready" 30 "$pid"; then
            PROM_ADDR=127.0.0.1:$port
            PROM_URL=http://$PROM_ADDR
            PROM_PID=$pid
            PROM_LOG=$logf
            log "prometheus pid $pid ready on $PROM_URL (log $logf)"
            return 0
        fi
        _e2e_stop "$pid"
        grep -qiE 'address already in use' "$logf" || break
        log "port $port was taken (attempt $attempt); retrying"
    done
    die "prometheus did not become ready with $config (log: $(tail -n 5 "$logf" | tr '\n' ' '))"
}

# prom_query EXPR: instant query against $PROM_URL; print .data.result as compact JSON (fail on an API error).
prom_query() {
    local body
    body=$(curl -sS --max-time 10 --get --data-urlencode "query=$1" "$PROM_URL/api/v1/query") || return 1
    if [[ $(jq -r '.status' <<<"$body" 2>/dev/null) != success ]]; then
        log "prom_query '$1': $body"
        return 1
    fi
    jq -c '.data.result' <<<"$body"
}

# wait_prom_value EXPR EXPECTED [TIMEOUT_S=30]: poll until EXPR returns exactly one series whose value equals
# EXPECTED numerically; on timeout say what was seen last and fail.
wait_prom_value() {
    local expr=$1 want=$2 timeout=${3:-30} got=""
    local deadline=$((SECONDS + timeout))
    while :; do
        if got=$(prom_query "$expr" 2>/dev/null) &&
            jq -e --arg want "$want" 'length == 1 and (.[0].value[1] | tonumber) == ($want | tonumber)' \
                <<<"$got" >/dev/null; then
            log "ok: $expr == $want"
            return 0
        fi
        ((SECONDS < deadline)) || break
        sleep 0.5
    done
    log "wait_prom_value: '$expr' did not become $want within ${timeout}s; last result: ${got:-<query failed>}"
    return 1
}

# metric_value TEXT NAME [LABELSUBSTR...]: print the value of the one sample of NAME in the exposition TEXT whose
# label set contains every LABELSUBSTR (e.g. 'model="acme/tiny"'); fail if none or more than one matches.
metric_value() {
    local text=$1 name=$2
    shift 2
    local out n
    # ENVIRON, not -v: awk would interpret backslash escapes in -v values.
    out=$(MV_NAME=$name MV_WANTS=$(printf '%s\n' "$@") awk '
        BEGIN { name = ENVIRON["MV_NAME"]; nw = split(ENVIRON["MV_WANTS"], want, "\n") }
        /^#/ || NF == 0 { next }
        {
            line = $0
            if (substr(line, 1, length(name)) != name) next
            c = substr(line, length(name) + 1, 1)
            labels = ""
            if (c == "{") {
                # the label set ends at the last "} " (label values may contain braces)
                rest = substr(line, length(name) + 1)
                end = 0
                for (i = length(rest); i > 0; i--) if (substr(rest, i, 2) == "} ") { end = i; break }
                if (end == 0) next
                labels = substr(rest, 1, end)
                after = substr(rest, end + 1)
            } else if (c == " ") {
                after = substr(line, length(name) + 1)
            } else next
            for (i = 1; i <= nw; i++) if (want[i] != "" && index(labels, want[i]) == 0) next
            split(after, f, " ")
            print f[1]
        }' <<<"$text")
    n=$(grep -c . <<<"$out" || true)
    if [[ $n -eq 0 ]]; then
        log "metric_value: no sample $name{$*}"
        return 1
    elif [[ $n -gt 1 ]]; then
        log "metric_value: $n samples match $name{$*}; add labels to pick one"
        return 1
    fi
    printf '%s\n' "$out"
}

# assert_num_eq ACTUAL EXPECTED WHAT: die unless ACTUAL and EXPECTED are equal numbers ("1e3" == "1000").
assert_num_eq() {
    if ! awk -v a="$1" -v b="$2" 'BEGIN {
            if (a !~ /^[-+0-9.eE]+$/ || b !~ /^[-+0-9.eE]+$/) exit 1
            exit !(a + 0 == b + 0) }'; then
        die "$3: got '$1', expected $2"
    fi
    log "ok: $3 == $2"
}

# assert_eq ACTUAL EXPECTED WHAT: die unless the two strings are identical.
assert_eq() {
    [[ $1 == "$2" ]] || die "$3: got '$1', expected '$2'"
    log "ok: $3 == '$2'"
}
