# shellcheck shell=bash
# tests/e2e/setup.d/20-hub.sh (sourced by setup.sh after the base install): a second venv with an OLD
# huggingface_hub, so test_20 also compares the exporter with caches written (and scanned) by the 0.x client that
# many deployments still run: fixed-name `blobs/<etag>.incomplete` temp files, no trees/, no CACHEDIR.TAG, no
# kernels, and a scan_cache_dir that resolves whole symlink chains.
# Environment: E2E_OLDHUB_VENV (default /opt/hfce-e2e-venv-hub036), E2E_OLDHUB_VERSION (default 0.36.2).

E2E_OLDHUB_VENV=${E2E_OLDHUB_VENV:-/opt/hfce-e2e-venv-hub036}
E2E_OLDHUB_VERSION=${E2E_OLDHUB_VERSION:-0.36.2}

_e2e_oldhub_ok() {
    [[ -x $E2E_OLDHUB_VENV/bin/python ]] &&
        [[ $("$E2E_OLDHUB_VENV/bin/python" -c 'import huggingface_hub as h; print(h.__version__)' 2>/dev/null) == \
            "$E2E_OLDHUB_VERSION" ]]
}

if ! _e2e_oldhub_ok; then
    setup_log "creating $E2E_OLDHUB_VENV with huggingface_hub==$E2E_OLDHUB_VERSION"
    rm -rf "$E2E_OLDHUB_VENV"
    python3 -m venv "$E2E_OLDHUB_VENV"
    "$E2E_OLDHUB_VENV/bin/python" -m pip install --quiet --upgrade pip
    "$E2E_OLDHUB_VENV/bin/python" -m pip install --quiet "huggingface_hub==$E2E_OLDHUB_VERSION"
fi
_e2e_oldhub_ok || { setup_log "$E2E_OLDHUB_VENV has no huggingface_hub $E2E_OLDHUB_VERSION"; exit 1; }
setup_log "old-client venv: huggingface_hub $E2E_OLDHUB_VERSION ($E2E_OLDHUB_VENV)"
