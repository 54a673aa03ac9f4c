#!/usr/bin/env bash
# test_95_static_build.sh: scripts/build-static.sh (what the Dockerfile runs) makes a binary that needs nothing at
# run time and behaves exactly like the dynamically linked one.
#   1. the output is a static PIE: ELF type DYN (keeps ASLR), no PT_INTERP, no NEEDED shared library; negative
#      control: the same check rejects the dynamic $HFCE_BIN;
#   2. `scan --json` on the small synthetic preset equals the dynamic binary's output, timings aside, and matches
#      the generator's expected totals;
#   3. it serves on `localhost:PORT`: the host name goes through glibc's built-in `files` NSS module (no libnss
#      to load), and /metrics has one hf_cache_exists series per repo of the cache.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_cmd python3 readelf curl
[[ -x $HFCE_BIN ]] || die "exporter binary '$HFCE_BIN' missing; build it or set HFCE_BIN"
DYN_BIN=$HFCE_BIN
STATIC_BIN=$E2E_TMP/static/hf-cache-exporter

log "building with scripts/build-static.sh"
bash "$E2E_ROOT/scripts/build-static.sh" "$STATIC_BIN" >"$E2E_TMP/build.log" 2>&1 ||
    die "scripts/build-static.sh failed: $(tail -n 20 "$E2E_TMP/build.log")"

# --- 1. static PIE ----------------------------------------------------------------------------------------------
# static_pie_problems BIN: print what keeps BIN from being a self-contained position-independent executable.
static_pie_problems() {
    local bin=$1
    readelf -hW "$bin" | grep -qE 'Type:[[:space:]]+DYN' || echo "not position-independent (ELF type is not DYN)"
    if readelf -lW "$bin" | grep -q INTERP; then echo "has a PT_INTERP (needs the dynamic loader)"; fi
    readelf -dW "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/needs \1/p'
}
problems=$(static_pie_problems "$STATIC_BIN")
[[ -z $problems ]] || die "$STATIC_BIN is not a static PIE: $problems"
log "ok: static PIE, no interpreter, no shared library"
problems=$(static_pie_problems "$DYN_BIN")
grep -q 'needs libc.so' <<<"$problems" ||
    die "negative control: the static-PIE check did not notice that $DYN_BIN needs libc (got: '$problems')"
log "ok: negative control: the check rejects the dynamic binary ($(tr '\n' ';' <<<"$problems"))"

# --- 2. same answers --------------------------------------------------------------------------------------------
python3 "$E2E_ROOT/bench/gen_cache.py" --preset small --out "$E2E_TMP/small" --seed 7 2>"$E2E_TMP/gen.log" ||
    die "gen_cache.py failed: $(tail -n 20 "$E2E_TMP/gen.log")"
for which in dyn static; do
    bin=$DYN_BIN
    [[ $which == dyn ]] || bin=$STATIC_BIN
    "$bin" scan --json --cache.dir "$E2E_TMP/small/hub" >"$E2E_TMP/scan.$which.json" 2>"$E2E_TMP/scan.$which.log" ||
        die "$which: scan --json failed: $(tail -n 20 "$E2E_TMP/scan.$which.log")"
done
python3 - "$E2E_TMP/scan.dyn.json" "$E2E_TMP/scan.static.json" <<'PY' || die "the static binary's scan differs (see above)"
import json, sys

def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k != "scan_duration_seconds"}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v

a, b = (strip(json.load(open(p))) for p in sys.argv[1:])
repos = len(a["caches"][0]["repos"])
if repos == 0 or a != b:
    print(f"  repos in the dynamic scan: {repos}; equal: {a == b}", file=sys.stderr)
    sys.exit(1)
PY
python3 "$E2E_ROOT/bench/check_totals.py" "$E2E_TMP/small/expected.json" "$E2E_TMP/scan.static.json" \
    >"$E2E_TMP/check.txt" || die "static scan totals differ from the generator's: $(head -n 30 "$E2E_TMP/check.txt")"
log "ok: same scan --json as the dynamic binary; $(cat "$E2E_TMP/check.txt")"

# --- 3. serves, resolving localhost without shared NSS modules ---------------------------------------------------
grep -qE '^[^#]*[[:space:]]localhost([[:space:]]|$)' /etc/hosts || die "/etc/hosts has no localhost entry to resolve"
repos=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["caches"][0]["repos"]))' \
    "$E2E_TMP/scan.static.json")
HFCE_BIN=$STATIC_BIN EXPORTER_LISTEN_HOST=localhost start_exporter --cache.dir "$E2E_TMP/small/hub"
[[ $(readlink "/proc/$EXPORTER_PID/exe") == "$STATIC_BIN" ]] || die "the exporter started is not $STATIC_BIN"
http_get "$EXPORTER_URL/metrics" >"$E2E_TMP/metrics.txt" || die "GET /metrics from the static binary failed"
got=$(grep -c '^hf_cache_exists{' "$E2E_TMP/metrics.txt" || true)
[[ $got -eq $repos ]] || die "static binary: $got hf_cache_exists series, want $repos (one per repo)"
log "ok: the static binary serves on localhost:${EXPORTER_ADDR#*:}, $got hf_cache_exists series"
