#!/usr/bin/env bash
# test_20_client_caches: the exporter's counting rules against the REAL huggingface_hub client.
#
# 0. tests/fakehub/selftest.py: the fake hub answers what the client relies on (codes, headers, Range, pause).
# 1. client_build_caches.py downloads from the fake hub (tests/fakehub) with the real client into these caches: hub,
#    nosymlink (HF_HUB_DISABLE_SYMLINKS=1), killed (SIGKILLed mid-file), localdir (refs-only folder left by
#    snapshot_download(local_dir=...)), rmhalf (orphan blobs), shared (LFS blobs moved into the 2.x cache-wide
#    store by the client's own publish_blob_to_shared_store) and broken (a blob deleted by hand: the client drops
#    the whole repo), and dumps scan_cache_dir() for each. Steps 1-2 run twice: with the current huggingface_hub (the
#    e2e venv) and with 0.36.2 (setup.d/20-hub.sh), whose caches differ (fixed-name .incomplete, no trees/).
# 2. client_diffcheck.py scan: `hf-cache-exporter scan --json --cache.dir <cache>` must agree per repo folder:
#    bytes == client size_on_disk + temp files + orphan blobs, incomplete files, revisions, ids, and report the
#    folders the client drops as corrupted.
# 3. client_diffcheck.py metrics: hf_cache_bytes from a running exporter's /metrics == `scan --json` bytes.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/fakehub/fakehub.sh
source "$E2E_ROOT/tests/fakehub/fakehub.sh"

require_cmd python3 curl jq
[[ -x $E2E_PY ]] || die "venv python $E2E_PY missing; run tests/e2e/setup.sh"
[[ -x $HFCE_BIN ]] || die "exporter binary $HFCE_BIN missing; build it or set HFCE_BIN"
if ! python3 "$E2E_ROOT/tests/fakehub/selftest.py" >"$E2E_TMP/fakehub-selftest.txt" 2>&1; then
    grep -v '^ok ' "$E2E_TMP/fakehub-selftest.txt" >&2
    die "fake hub self-test failed"
fi
log "$(tail -n 1 "$E2E_TMP/fakehub-selftest.txt")"

start_fakehub --throttle-bps 0

# check_client PYTHON LABEL: build every cache with the huggingface_hub of PYTHON into $E2E_TMP/LABEL and compare
# the exporter's `scan --json` with that client's scan_cache_dir(); sets CACHES to the caches dir.
check_client() {
    local py=$1 label=$2
    local caches=$E2E_TMP/$label
    log "[$label] building caches with huggingface_hub $("$py" -c 'import huggingface_hub as h; print(h.__version__)')" \
        "(log: $E2E_TMP/$label.build.log)"
    if ! "$py" "$E2E_ROOT/tests/e2e/client_build_caches.py" --out "$caches" --hub-url "$FAKEHUB_URL" \
        >"$E2E_TMP/$label.build.log" 2>&1; then
        tail -n 40 "$E2E_TMP/$label.build.log" >&2
        die "[$label] client_build_caches.py failed"
    fi
    jq -r '.caches | to_entries[] | "\(.key): \(.value.repos) repos, corrupted \(.value.corrupted), \(.value.incomplete_files) incomplete"' \
        "$caches/manifest.json" | while read -r line; do log "[$label] client: $line"; done

    # The fixtures must contain what they claim, or the comparison below proves little.
    jq -e '[.repos[] | select(.revisions | length >= 3)] | length >= 1' "$caches/hub.scan.json" >/dev/null ||
        die "[$label] hub cache: no repo with branch + tag + refs/pr/1 revisions"
    jq -e '.incomplete_files | length == 1 and .[0].size > 0' "$caches/killed.scan.json" >/dev/null ||
        die "[$label] killed cache: expected exactly one non-empty .incomplete file"
    jq -e '.repos == [] and (.corrupted | length == 1)' "$caches/localdir.scan.json" >/dev/null ||
        die "[$label] localdir cache: expected one folder dropped by scan_cache_dir"
    jq -e '.corrupted | length == 1' "$caches/broken.scan.json" >/dev/null ||
        die "[$label] broken cache: expected scan_cache_dir to drop the damaged repo"
    find "$caches/hub" -path '*/.no_exist/*' -type f | grep -q . || die "[$label] hub cache: no .no_exist entry"
    if jq -e '.caches.shared' "$caches/manifest.json" >/dev/null; then
        find "$caches/shared" -path '*--*/blobs/*' -type l | grep -q . || die "[$label] shared cache: no blob symlink"
    fi

    log "[$label] comparing exporter scan --json with scan_cache_dir"
    mkdir -p "$E2E_TMP/$label.exporter-json"
    if ! python3 "$E2E_ROOT/tests/e2e/client_diffcheck.py" scan --bin "$HFCE_BIN" --caches "$caches" \
        --save "$E2E_TMP/$label.exporter-json" >"$E2E_TMP/$label.diffcheck.txt" 2>&1; then
        cat "$E2E_TMP/$label.diffcheck.txt" >&2
        die "[$label] exporter disagrees with huggingface_hub scan_cache_dir (MISMATCH lines above)"
    fi
    tail -n 2 "$E2E_TMP/$label.diffcheck.txt" >&2
    CACHES=$caches
}

# The old client (setup.d/20-hub.sh) first, then the current one, whose hub cache is also served below.
E2E_OLDHUB_VENV=${E2E_OLDHUB_VENV:-/opt/hfce-e2e-venv-hub036}
[[ -x $E2E_OLDHUB_VENV/bin/python ]] || die "old-client venv $E2E_OLDHUB_VENV missing; run tests/e2e/setup.sh"
check_client "$E2E_OLDHUB_VENV/bin/python" oldclient
check_client "$E2E_PY" client
caches=$CACHES

log "comparing /metrics hf_cache_bytes with scan --json for the hub cache"
"$HFCE_BIN" scan --json --cache.dir "$caches/hub" >"$E2E_TMP/hub.scan-again.json" ||
    die "scan --json failed for $caches/hub"
start_exporter --cache.dir "$caches/hub"
http_get "$EXPORTER_URL/metrics" >"$E2E_TMP/hub.metrics" || die "GET /metrics failed"
if ! python3 "$E2E_ROOT/tests/e2e/client_diffcheck.py" metrics --scan-json "$E2E_TMP/hub.scan-again.json" \
    --metrics "$E2E_TMP/hub.metrics" >"$E2E_TMP/metricscheck.txt" 2>&1; then
    cat "$E2E_TMP/metricscheck.txt" >&2
    die "/metrics hf_cache_bytes disagrees with scan --json"
fi
tail -n 1 "$E2E_TMP/metricscheck.txt" >&2
log "PASS"
