#!/usr/bin/env bash
# tests/e2e/run.sh [PATTERN]: build the release binary, install the e2e prerequisites (setup.sh), then run every
# tests/e2e/test_*.sh in name order, each in its own bash process, and summarise. With PATTERN (an extended
# regex), only the test scripts whose file name matches it run. Exits 1 if any test failed or none ran.
#
# Environment: E2E_TEST_TIMEOUT (seconds per test script, default 600), E2E_VENV (see setup.sh),
# E2E_KEEP_TMP=1 (keep each test's scratch dir), E2E_SKIP_SETUP=1 (skip setup.sh; for quick local re-runs).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
pattern=${1:-}

echo "== cargo build --release --locked"
cargo build --release --locked
export HFCE_BIN=$PWD/target/release/hf-cache-exporter
[[ -x $HFCE_BIN ]] || { echo "run.sh: $HFCE_BIN was not built" >&2; exit 1; }

if [[ ${E2E_SKIP_SETUP:-0} == 1 ]]; then
    echo "== setup.sh skipped (E2E_SKIP_SETUP=1)"
else
    echo "== tests/e2e/setup.sh"
    bash tests/e2e/setup.sh
fi

mapfile -t tests < <(LC_ALL=C compgen -G 'tests/e2e/test_*.sh' | LC_ALL=C sort)
passed=0
failed=0
failed_names=()
failed_reasons=()
for t in "${tests[@]}"; do
    name=$(basename "$t")
    if [[ -n $pattern ]] && ! grep -qE -- "$pattern" <<<"$name"; then
        continue
    fi
    echo "== $name"
    start=$SECONDS
    rc=0
    E2E_RESULT_FILE=$(mktemp)
    export E2E_RESULT_FILE
    timeout --kill-after=15 "${E2E_TEST_TIMEOUT:-600}" bash "$t" || rc=$?
    took=$((SECONDS - start))
    if [[ $rc -eq 0 ]]; then
        echo "PASS $name (${took}s)"
        passed=$((passed + 1))
    else
        [[ $rc -eq 124 ]] && echo "$name: timed out after ${E2E_TEST_TIMEOUT:-600}s" >&2
        echo "FAIL $name (exit $rc, ${took}s)"
        failed=$((failed + 1))
        failed_names+=("$name")
        reason=$(cat "$E2E_RESULT_FILE")
        failed_reasons+=("$name: ${reason:-exit $rc without a FAIL message (see its output above)}")
    fi
    rm -f "$E2E_RESULT_FILE"
done

echo "== summary"
if [[ $failed -gt 0 ]]; then
    echo "failed: ${failed_names[*]}"
    printf '  %s\n' "${failed_reasons[@]}"
fi
echo "$passed passed, $failed failed"
if [[ $((passed + failed)) -eq 0 ]]; then
    echo "run.sh: no test script matched '${pattern}'" >&2
    exit 1
fi
[[ $failed -eq 0 ]]
