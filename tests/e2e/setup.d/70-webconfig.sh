# shellcheck shell=bash
# tests/e2e/setup.d/70-webconfig.sh: tools for test_70_web_config.sh, sourced by setup.sh after the base install.
# openssl makes the test CA and certificates; PyPI bcrypt (in the venv) hashes the basic-auth password the way
# htpasswd -B would. Idempotent.
e2e_apt_install openssl
if ! e2e_venv_has bcrypt; then
    setup_log "pip install bcrypt into $E2E_VENV"
    e2e_pip_install bcrypt
fi
e2e_venv_has bcrypt || { setup_log "venv $E2E_VENV has no bcrypt"; exit 1; }
setup_log "webconfig: $(openssl version), bcrypt $("$E2E_VENV/bin/python" -c 'import bcrypt; print(bcrypt.__version__)')"
