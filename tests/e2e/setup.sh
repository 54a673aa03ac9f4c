#!/usr/bin/env bash
# tests/e2e/setup.sh: install everything the end-to-end tests need, idempotently.
#
# Runs as root on a fresh Debian bookworm (CI) or on a machine where it already ran (then it only checks and
# prints versions, in a second or two). It installs:
#   - apt: the Debian Prometheus stack plus the small tools the test scripts use (binutils: readelf, for the
#     static-build test);
#   - a Python venv at $E2E_VENV (default /opt/hfce-e2e-venv) with the PyPI packages the tests import;
#   - whatever the fragments tests/e2e/setup.d/*.sh add (sourced in name order, after the base install).
# Environment: E2E_VENV (venv path), E2E_UPGRADE=1 (re-run pip install --upgrade even if the venv is complete).
set -euo pipefail

E2E_VENV=${E2E_VENV:-/opt/hfce-e2e-venv}
export E2E_VENV
E2E_SETUP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

E2E_APT_PACKAGES=(prometheus prometheus-alertmanager prometheus-node-exporter curl jq strace procps binutils)
E2E_PIP_PACKAGES=(huggingface_hub kubernetes-validate jsonschema pyyaml requests)
# Import names of E2E_PIP_PACKAGES, used to decide whether the venv is already complete.
E2E_PIP_IMPORTS=(huggingface_hub kubernetes_validate jsonschema yaml requests)
# Daemons the Debian packages would like to start (systemd unit / init.d names).
E2E_APT_SERVICES=(prometheus prometheus-alertmanager prometheus-node-exporter)

setup_log() { printf 'setup: %s\n' "$*" >&2; }

# Prefix for commands that need root: nothing when root, sudo when available, otherwise fail loudly.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        setup_log "need root to run: $*"
        return 1
    fi
}

_E2E_APT_UPDATED=0
_E2E_POLICY_RC_D=/usr/sbin/policy-rc.d
_E2E_POLICY_RC_D_CREATED=0

# Remove our temporary policy-rc.d (if we created one) however the script ends.
_e2e_setup_cleanup() {
    if [[ $_E2E_POLICY_RC_D_CREATED -eq 1 ]]; then
        as_root rm -f "$_E2E_POLICY_RC_D" || true
    fi
}
trap _e2e_setup_cleanup EXIT

# e2e_apt_missing PKG...: print the packages that are not installed yet.
e2e_apt_missing() {
    local pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            printf '%s\n' "$pkg"
        fi
    done
}

# e2e_apt_install PKG...: install missing packages (apt-get update at most once per setup run); no daemon is
# started by a package's postinst while this runs. Fragments in setup.d/ should use this too.
e2e_apt_install() {
    local missing
    mapfile -t missing < <(e2e_apt_missing "$@")
    [[ ${#missing[@]} -eq 0 ]] && return 0
    # invoke-rc.d and deb-systemd-invoke ask policy-rc.d before starting a service; 101 means "not allowed".
    # Debian's docker images ship one; a bare machine may not, so add one for the duration of the install.
    if [[ ! -e $_E2E_POLICY_RC_D ]]; then
        setup_log "adding a temporary $_E2E_POLICY_RC_D so package installs start no daemons"
        printf '#!/bin/sh\n# temporary, created by hf-cache-exporter tests/e2e/setup.sh\nexit 101\n' |
            as_root tee "$_E2E_POLICY_RC_D" >/dev/null
        as_root chmod 0755 "$_E2E_POLICY_RC_D"
        _E2E_POLICY_RC_D_CREATED=1
    fi
    if [[ $_E2E_APT_UPDATED -eq 0 ]]; then
        setup_log "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
        _E2E_APT_UPDATED=1
    fi
    setup_log "apt-get install ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

# e2e_stop_services NAME...: make sure none of the named daemons is left running by a package install (they would
# hold 9090/9093/9100 and confuse tests). Only acts through the service manager, never by process name.
e2e_stop_services() {
    local svc
    for svc in "$@"; do
        if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
            if systemctl is-active --quiet "$svc" 2>/dev/null; then
                setup_log "stopping and disabling systemd service $svc (started by its package)"
                as_root systemctl disable --now "$svc" >/dev/null 2>&1 || as_root systemctl stop "$svc"
            fi
        elif [[ -x /etc/init.d/$svc ]]; then
            if as_root "/etc/init.d/$svc" status >/dev/null 2>&1; then
                setup_log "stopping init.d service $svc (started by its package)"
                as_root "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
            fi
        fi
    done
}

# e2e_pip_install PKG...: pip install into $E2E_VENV (creating it if needed). Fragments in setup.d/ may use it.
e2e_pip_install() {
    e2e_venv_create
    "$E2E_VENV/bin/python" -m pip install --quiet --upgrade "$@"
}

# e2e_venv_create: create $E2E_VENV with the python3 on PATH (and a current pip) unless it already works.
e2e_venv_create() {
    if [[ -x $E2E_VENV/bin/python ]] && "$E2E_VENV/bin/python" -c 'import pip' >/dev/null 2>&1; then
        return 0
    fi
    setup_log "creating venv $E2E_VENV with $(command -v python3) ($(python3 --version 2>&1))"
    rm -rf "$E2E_VENV"
    python3 -m venv "$E2E_VENV"
    "$E2E_VENV/bin/python" -m pip install --quiet --upgrade pip
}

# e2e_venv_has MODULE...: true if the venv python can import every module.
e2e_venv_has() {
    [[ -x $E2E_VENV/bin/python ]] || return 1
    local mod
    for mod in "$@"; do
        "$E2E_VENV/bin/python" -c "import $mod" >/dev/null 2>&1 || return 1
    done
}

# --- base install ---------------------------------------------------------------------------------------------
mapfile -t _e2e_new < <(e2e_apt_missing "${E2E_APT_PACKAGES[@]}")
e2e_apt_install "${E2E_APT_PACKAGES[@]}"
if [[ ${#_e2e_new[@]} -gt 0 ]]; then
    e2e_stop_services "${E2E_APT_SERVICES[@]}"
fi

if [[ ${E2E_UPGRADE:-0} == 1 ]] || ! e2e_venv_has "${E2E_PIP_IMPORTS[@]}"; then
    setup_log "pip install ${E2E_PIP_PACKAGES[*]} into $E2E_VENV"
    e2e_pip_install "${E2E_PIP_PACKAGES[@]}"
fi
e2e_venv_has "${E2E_PIP_IMPORTS[@]}" || { setup_log "venv $E2E_VENV is still missing a module"; exit 1; }

# --- fragments ------------------------------------------------------------------------------------------------
shopt -s nullglob
for _e2e_fragment in "$E2E_SETUP_DIR"/setup.d/*.sh; do
    setup_log "sourcing ${_e2e_fragment#"$E2E_SETUP_DIR"/}"
    # shellcheck source=/dev/null
    source "$_e2e_fragment"
done
shopt -u nullglob

# --- report ---------------------------------------------------------------------------------------------------
_e2e_version() { "$@" 2>&1 | head -n 1; }
{
    echo "prometheus:        $(_e2e_version prometheus --version)"
    echo "promtool:          $(_e2e_version promtool --version)"
    echo "alertmanager:      $(_e2e_version prometheus-alertmanager --version)"
    echo "amtool:            $(_e2e_version amtool --version)"
    echo "node_exporter:     $(_e2e_version prometheus-node-exporter --version)"
    echo "jq:                $(_e2e_version jq --version)"
    echo "venv python:       $(_e2e_version "$E2E_VENV/bin/python" --version) ($E2E_VENV)"
    echo "huggingface_hub:   $("$E2E_VENV/bin/python" -c 'import huggingface_hub; print(huggingface_hub.__version__)')"
} >&2
