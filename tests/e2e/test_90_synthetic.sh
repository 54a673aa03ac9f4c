#!/usr/bin/env bash
# test_90_synthetic.sh: the exporter's one-shot scan reports exactly the totals bench/gen_cache.py expects.
#
# The generator (Python stdlib only) writes synthetic Hub caches with every layout the README's counting rules
# cover and computes the expected per-repo figures from those rules as it writes; bench/check_totals.py compares.
#   1. small preset (every layout once) and medium preset (500 repos, ~23k content files, ~30k symlinks):
#      `scan --json` matches expected.json exactly, repo by repo and in the root sums;
#   2. the generator is deterministic: the same seed gives the same expected.json;
#   3. negative controls: one perturbed expected number, and one repo missing from the scan, make check_totals
#      fail, so step 1 can fail.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_cmd python3
[[ -x $HFCE_BIN ]] || die "exporter binary '$HFCE_BIN' missing; build it or set HFCE_BIN"
GEN=$E2E_ROOT/bench/gen_cache.py
CHECK=$E2E_ROOT/bench/check_totals.py
# The medium cache (~60k entries) goes to tmpfs when there is one: creating and deleting it on a slow shared disk
# can take minutes, and the small cache still exercises the disk's filesystem.
big_tmp=$E2E_TMP
if [[ -d /dev/shm && -w /dev/shm ]] && [[ $(df --output=avail -k /dev/shm | tail -n 1) -gt 1048576 ]]; then
    big_tmp=$(mktemp -d /dev/shm/hfce-synthetic.XXXXXX)
    on_exit "rm -rf '$big_tmp'"
fi

# --- 1. exact totals --------------------------------------------------------------------------------------------
for preset in small medium; do
    out=$E2E_TMP/$preset
    [[ $preset == small ]] || out=$big_tmp/$preset
    python3 "$GEN" --preset "$preset" --out "$out" --seed 7 2>"$E2E_TMP/gen.$preset.log" ||
        die "gen_cache.py --preset $preset failed: $(tail -n 20 "$E2E_TMP/gen.$preset.log")"
    log "$(cat "$E2E_TMP/gen.$preset.log")"
    "$HFCE_BIN" scan --json --cache.dir "$out/hub" >"$out/scan.json" 2>"$E2E_TMP/scan.$preset.log" ||
        die "scan --json on the $preset cache failed: $(tail -n 20 "$E2E_TMP/scan.$preset.log")"
    python3 "$CHECK" "$out/expected.json" "$out/scan.json" >"$E2E_TMP/check.$preset.txt" ||
        die "$preset: exporter totals differ from the generator's: $(head -n 30 "$E2E_TMP/check.$preset.txt")"
    log "ok: $preset: $(cat "$E2E_TMP/check.$preset.txt")"
done

# --- 2. deterministic -------------------------------------------------------------------------------------------
python3 "$GEN" --preset small --out "$E2E_TMP/small-again" --seed 7 2>/dev/null || die "second small generation failed"
python3 - "$E2E_TMP/small/expected.json" "$E2E_TMP/small-again/expected.json" <<'PY' ||
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for e in (a, b):
    e.pop("cache_dir")
sys.exit(0 if a == b else 1)
PY
    die "the same seed gave different expected.json files"
log "ok: the same seed gives the same expected totals"

# --- 3. negative controls ---------------------------------------------------------------------------------------
python3 - "$E2E_TMP/small/expected.json" "$E2E_TMP/perturbed.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
e["repos"]["models--synth-org--no-symlinks"]["bytes"] += 1
json.dump(e, open(sys.argv[2], "w"))
PY
if python3 "$CHECK" "$E2E_TMP/perturbed.json" "$E2E_TMP/small/scan.json" >"$E2E_TMP/neg1.txt"; then
    die "negative control: check_totals accepted an expected file with one repo's bytes off by one"
fi
grep -q 'models--synth-org--no-symlinks: bytes' "$E2E_TMP/neg1.txt" ||
    die "negative control: check_totals failed but did not name the perturbed figure: $(cat "$E2E_TMP/neg1.txt")"
python3 - "$E2E_TMP/small/scan.json" "$E2E_TMP/dropped.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["caches"][0]["repos"] = [r for r in s["caches"][0]["repos"] if r["folder"] != "models--gpt2-synth"]
json.dump(s, open(sys.argv[2], "w"))
PY
if python3 "$CHECK" "$E2E_TMP/small/expected.json" "$E2E_TMP/dropped.json" >"$E2E_TMP/neg2.txt"; then
    die "negative control: check_totals accepted a scan with a repo missing"
fi
grep -q 'models--gpt2-synth: missing from the scan' "$E2E_TMP/neg2.txt" ||
    die "negative control: check_totals did not name the missing repo: $(cat "$E2E_TMP/neg2.txt")"
log "ok: check_totals catches a perturbed figure and a missing repo"
