#!/usr/bin/env bash
# bench/setup.sh: install what the bench/ scripts need, idempotently (a second run only checks and prints versions).
#
# Runs on a fresh Debian (bookworm) as root or with sudo:
#   - apt: hyperfine, strace, time (/usr/bin/time -v), python3-venv; valgrind (bench/instructions.sh) and
#     linux-perf (bench/startup.sh);
#   - diskus from crates.io, built into bench/.tools (gitignored);
#   - a venv at bench/.venv with huggingface_hub from PyPI (for the scan_cache_dir contender).
# Environment: BENCH_UPGRADE=1 re-runs pip install --upgrade even when the venv already imports huggingface_hub.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS=$BENCH_DIR/.tools
VENV=$BENCH_DIR/.venv
APT_PACKAGES=(hyperfine strace time python3-venv valgrind linux-perf)

say() { printf 'bench/setup: %s\n' "$*" >&2; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        say "need root to run: $*"
        return 1
    fi
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    say "apt-get install ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x $TOOLS/bin/diskus ]]; then
    say "cargo install diskus --locked --root $TOOLS"
    cargo install diskus --locked --root "$TOOLS" --quiet
fi

# The Debian python3 when present: python3-venv above is for that interpreter.
PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
if [[ ${BENCH_UPGRADE:-0} == 1 ]] || ! "$VENV/bin/python" -c 'import huggingface_hub' >/dev/null 2>&1; then
    if ! "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1; then
        say "creating venv $VENV with $PYTHON"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    say "pip install huggingface_hub into $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip huggingface_hub
fi

{
    echo "hyperfine:       $(hyperfine --version)"
    echo "strace:          $(strace -V | head -n 1)"
    echo "time:            $(/usr/bin/time --version 2>&1 | head -n 1)"
    echo "valgrind:        $(valgrind --version)"
    echo "perf:            $(perf --version 2>&1 | head -n 1)"
    echo "diskus:          $("$TOOLS/bin/diskus" --version)"
    echo "venv python:     $("$VENV/bin/python" --version 2>&1)"
    echo "huggingface_hub: $("$VENV/bin/python" -c 'import huggingface_hub; print(huggingface_hub.__version__)')"
} >&2
