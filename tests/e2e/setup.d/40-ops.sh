# shellcheck shell=bash
# tests/e2e/setup.d/40-ops.sh: extra tools for the operations tests (test_40_ops_static.sh), sourced by setup.sh
# after the base install (so e2e_apt_install and friends exist). Idempotent.
#
# kubectl is only needed for `kubectl kustomize`. Any kubectl will do: the embedded kustomize of kubectl >= 1.14
# renders the overlays in deploy/kubernetes, which stick to fields that kustomize v2.0.3 (Debian bookworm's
# kubernetes-client 1.20) already understands. Keep an existing kubectl (e.g. a newer one from a cloud SDK);
# otherwise install Debian's.
if ! command -v kubectl >/dev/null 2>&1; then
    e2e_apt_install kubernetes-client
fi
kubectl kustomize --help >/dev/null 2>&1 || { setup_log "kubectl on PATH has no 'kustomize' subcommand"; exit 1; }
# systemd-analyze lints deploy/systemd/*.service (verify + offline security score); containers often lack it.
if ! command -v systemd-analyze >/dev/null 2>&1; then
    e2e_apt_install systemd
fi
setup_log "ops: $(kubectl version --client 2>/dev/null | head -n 1); $(systemd-analyze --version | head -n 1)"
