# shellcheck shell=bash
# tests/e2e/setup.d/80-strace.sh: strace for test_80_readonly_strace.sh (syscall-level read-only proof), sourced by
# setup.sh after the base install. Idempotent; util-linux provides flock for the test's negative control.
e2e_apt_install strace util-linux
setup_log "strace: $(strace -V | head -n 1)"
