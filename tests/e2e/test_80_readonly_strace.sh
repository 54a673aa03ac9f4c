#!/usr/bin/env bash
# test_80_readonly_strace.sh: the exporter never opens anything in a cache for writing, and never makes a call that
# could change it, shown at the syscall level.
#
# Caches written by the real huggingface_hub client (a complete hub cache, the shared blob store, and a killed
# download whose temp and lock files stay behind) are served by the exporter running under
# `strace -f -y -e trace=%file,%desc`, while the test drives hundreds of scrapes (text and OpenMetrics),
# /download_progress polls (exported repos, an ad-hoc repo, the root view), then `scan --json` and `textfile` to a
# path outside the caches, each under strace too. tests/e2e/strace_check.py then requires:
#   - no open/openat/openat2/creat under a cache root with O_WRONLY/O_RDWR/O_CREAT/O_TRUNC;
#   - no unlink*, rename*, mkdir*, rmdir, chmod*, chown*, truncate, utime*, *xattr, link*, symlink*, mknod*, flock,
#     fcntl F_SETLK*, fallocate or write on a path or fd under a cache root;
#   - and that the log did see the caches (hundreds of calls name them), so a parser that matches nothing fails.
# Negative control: `touch`, `flock`, `mkdir`/`rmdir` and a rename run under the same strace on a scratch copy, and
# the same checker must flag each kind, so the check can fail.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_cmd strace curl python3 jq flock
[[ -x $E2E_PY ]] || die "venv python $E2E_PY missing; run tests/e2e/setup.sh"
[[ -x $HFCE_BIN ]] || die "exporter binary '$HFCE_BIN' missing; build it or set HFCE_BIN"

CHECK=$E2E_ROOT/tests/e2e/strace_check.py
STRACE=(strace -f -y -qq -s 64 -e 'trace=%file,%desc')

# --- caches written by the real client ----------------------------------------------------------------------------
caches=$E2E_TMP/caches
"$E2E_PY" "$E2E_ROOT/tests/e2e/client_build_caches.py" --out "$caches" --only hub,killed,shared \
    >"$E2E_TMP/build.log" 2>&1 || die "client_build_caches.py failed: $(tail -n 20 "$E2E_TMP/build.log")"
roots=()
for c in hub killed shared; do
    [[ -d $caches/$c ]] && roots+=("$caches/$c")
done
[[ ${#roots[@]} -ge 2 ]] || die "expected at least the hub and killed caches in $caches"
ls "$caches"/killed/models--*/blobs/*.incomplete >/dev/null 2>&1 || die "the killed cache has no temp file"
root_args=()
check_args=()
for r in "${roots[@]}"; do
    root_args+=(--cache.dir "$r")
    check_args+=(--root "$(realpath "$r")")
done
log "caches: ${roots[*]}"

# --- the server under strace --------------------------------------------------------------------------------------
trace=$E2E_TMP/serve.strace
port=$(free_port)
# cwd outside every cache, so relative paths in the log cannot alias a cache path by accident.
(cd "$E2E_TMP" && exec "${STRACE[@]}" -o "$trace" "$HFCE_BIN" "${root_args[@]}" \
    --web.listen-address "127.0.0.1:$port" >"$E2E_TMP/exporter.log" 2>&1) &
STRACE_PID=$!
track_pid "$STRACE_PID" "$E2E_TMP/exporter.log"
# stop_traced: SIGTERM the exporter itself (strace's only child); strace then finishes the log and exits with it.
# Registered for exit too: a signal to strace would only detach it and leave the exporter running.
stop_traced() {
    local child
    kill -0 "$STRACE_PID" 2>/dev/null || return 0
    child=$({ tr -d ' \n' <"/proc/$STRACE_PID/task/$STRACE_PID/children"; } 2>/dev/null || true)
    if [[ $child =~ ^[0-9]+$ ]]; then kill -TERM "$child" 2>/dev/null || true; fi
    wait "$STRACE_PID" 2>/dev/null || true
}
on_exit stop_traced
url=http://127.0.0.1:$port
wait_http "$url/healthz" 30 "$STRACE_PID" || die "exporter under strace did not come up"

# Every exported repo as a reference: `datasets/org/name` etc. (labels: cache, model, repo_type).
mapfile -t models < <(http_get "$url/metrics" |
    sed -n 's/^hf_cache_exists{.*model="\([^"]*\)",repo_type="\([a-z]*\)"} 1$/\2s\/\1/p' |
    sed 's,^models/,,' | sort -u)
[[ ${#models[@]} -ge 3 ]] || die "expected several repos in /metrics, got: ${models[*]}"
log "driving 200 rounds of scrapes and polls over ${#models[@]} repos"
om='Accept: application/openmetrics-text;version=1.0.0;q=0.9,text/plain;q=0.5'
for ((i = 0; i < 200; i++)); do
    http_get "$url/metrics" >/dev/null || die "scrape $i failed"
    http_get "$url/metrics" -H "$om" | tail -n 1 | grep -qx '# EOF' || die "OpenMetrics scrape $i failed"
    m=${models[i % ${#models[@]}]}
    http_get "$url/download_progress?model_name=$m" | jq -e '.cache_exists == true' >/dev/null ||
        die "poll $m failed"
    if ((i % 10 == 0)); then
        http_get "$url/download_progress" | jq -e '.cache_exists == true' >/dev/null || die "root view failed"
        http_get "$url/download_progress?model_name=$m@main" >/dev/null || die "ad-hoc poll $m@main failed"
        curl -fsS -o /dev/null -I "$url/metrics" || die "HEAD failed"
    fi
done

stop_traced
kill -0 "$STRACE_PID" 2>/dev/null && die "strace $STRACE_PID still running after the exporter was stopped"

# --- one-shot commands under strace -------------------------------------------------------------------------------
outside=$E2E_TMP/textfile
mkdir -p "$outside"
(cd "$E2E_TMP" && "${STRACE[@]}" -o "$E2E_TMP/scan.strace" "$HFCE_BIN" scan --json "${root_args[@]}" \
    >"$E2E_TMP/scan.json") || die "scan --json under strace failed"
(cd "$E2E_TMP" && "${STRACE[@]}" -o "$E2E_TMP/textfile.strace" "$HFCE_BIN" textfile "$outside/hf.prom" \
    "${root_args[@]}") || die "textfile under strace failed"
grep -q '^hf_cache_bytes{' "$outside/hf.prom" || die "textfile wrote no hf_cache_bytes"

# --- the check ----------------------------------------------------------------------------------------------------
for t in serve scan textfile; do
    min=50
    [[ $t == serve ]] && min=1000
    if ! out=$(python3 "$CHECK" "${check_args[@]}" --cwd "$E2E_TMP" --expect-touches "$min" "$E2E_TMP/$t.strace" 2>&1); then
        die "$t: the exporter could have changed a cache: $(head -c 1500 <<<"$out")"
    fi
    log "ok: $t: $(tail -n 1 <<<"$out") ($(wc -l <"$E2E_TMP/$t.strace") syscalls traced)"
done

# --- negative control: the same checker flags real writes -----------------------------------------------------------
ctl=$E2E_TMP/control
cp -a "${roots[0]}" "$ctl"
blob=$(find "$ctl" -path '*/blobs/*' -type f | head -n 1)
[[ -n $blob ]] || die "no blob in the control copy"
# shellcheck disable=SC2016  # $1 and $2 belong to the inner sh
(cd "$E2E_TMP" && "${STRACE[@]}" -o "$E2E_TMP/control.strace" sh -c '
    touch "$1"; flock -s "$1" true; mkdir "$2/new"; rmdir "$2/new"; mv "$1" "$1.x"; mv "$1.x" "$1"' _ "$blob" "$ctl")
if out=$(python3 "$CHECK" --root "$(realpath "$ctl")" --cwd "$E2E_TMP" "$E2E_TMP/control.strace" 2>&1); then
    die "negative control: writes to $ctl were not flagged: $out"
fi
for kind in 'opened for writing: .*openat' 'mutating call: .*utimensat' 'mutating call: .*flock' \
    'mutating call: .*mkdir' 'mutating call: .*rmdir' 'mutating call: .*rename'; do
    grep -qE "$kind" <<<"$out" || die "negative control: no '$kind' in: $(head -c 1500 <<<"$out")"
done
log "ok: negative control flagged $(tail -n 1 <<<"$out")"
