#!/usr/bin/env bash
# test_70_web_config.sh: --web.config.file is the exporter-toolkit format, proven with the Prometheus tools.
#
#   1. openssl makes a CA, a server certificate (SAN 127.0.0.1) and a client certificate; PyPI bcrypt hashes a
#      password. The web config files written from them pass Debian's `promtool check web-config`;
#   2. an invalid file (a typo'd key; a header the toolkit does not allow) is rejected by promtool AND by the
#      exporter's `check-config` (exit 2, file named);
#   3. the exporter serves TLS + client certificates + basic auth: curl without a client certificate gets no
#      answer, without a password 401 with WWW-Authenticate, with both 200 and the extra header;
#   4. a real Prometheus scrapes it with tls_config (ca_file, cert_file, key_file) and basic_auth: up == 1 and
#      hf_cache_bytes of the known repo is stored.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_cmd curl jq openssl promtool prometheus
"$E2E_PY" -c 'import bcrypt' 2>/dev/null || die "venv $E2E_VENV has no bcrypt; run tests/e2e/setup.sh first"

# --- a tiny cache: one repo with one 4321-byte blob -------------------------------------------------------------
hub=$E2E_TMP/hub
repo=$hub/models--acme--secure
rev=$(printf 'secure-rev' | sha1sum | cut -c1-40)
mkdir -p "$repo/blobs" "$repo/snapshots/$rev" "$repo/refs"
head -c 4321 /dev/urandom >"$repo/blobs/blob1"
ln -s ../../blobs/blob1 "$repo/snapshots/$rev/model.bin"
printf '%s' "$rev" >"$repo/refs/main"

# --- PKI ----------------------------------------------------------------------------------------------------------
pki=$E2E_TMP/pki
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=hfce-e2e-ca \
    -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
# leaf NAME EKU SAN: a key and a CA-signed certificate for NAME.
leaf() {
    local name=$1 eku=$2 san=$3
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
        -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$san" "$eku" >"$pki/$name.ext"
    openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
        -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
}
leaf server serverAuth "IP:127.0.0.1,DNS:localhost"
leaf prometheus clientAuth "DNS:prometheus"
password=scrape-secret
hash=$("$E2E_PY" -c 'import bcrypt, sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(10)).decode())' \
    "$password")
log "PKI in $pki; bcrypt hash ${hash:0:7}..."

# --- web config files: promtool and the exporter agree ---------------------------------------------------------
web=$pki/web.yml
cat >"$web" <<EOF
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  min_version: TLS12
http_server_config:
  headers:
    X-Content-Type-Options: nosniff
basic_auth_users:
  prometheus: $hash
EOF
printf 'basic_auth_users:\n  alice: %s\n' "$hash" >"$pki/auth-only.yml"
for f in "$web" "$pki/auth-only.yml"; do
    promtool check web-config "$f" >"$E2E_TMP/promtool.out" 2>&1 ||
        die "promtool rejects $(basename "$f"): $(cat "$E2E_TMP/promtool.out")"
    "$HFCE_BIN" --cache.dir "$hub" --web.config.file "$f" check-config >"$E2E_TMP/check.out" 2>&1 ||
        die "exporter check-config rejects $(basename "$f"): $(cat "$E2E_TMP/check.out")"
    log "ok: $(basename "$f") passes promtool check web-config and the exporter's check-config"
done
"$HFCE_BIN" --cache.dir "$hub" --web.config.file "$web" check-config | grep -q \
    '^# web config: TLS on (RequireAndVerifyClientCert), 1 basic auth user(s), 1 extra header(s)' ||
    die "check-config does not summarise $web"

printf 'basic_auth_user:\n  alice: %s\n' "$hash" >"$pki/typo.yml"
printf 'http_server_config:\n  headers:\n    Server: hfce\n' >"$pki/badheader.yml"
for f in "$pki/typo.yml" "$pki/badheader.yml"; do
    if promtool check web-config "$f" >"$E2E_TMP/promtool.out" 2>&1; then
        die "promtool accepted invalid $(basename "$f")"
    fi
    rc=0
    "$HFCE_BIN" --cache.dir "$hub" --web.config.file "$f" check-config >/dev/null 2>"$E2E_TMP/check.err" || rc=$?
    assert_num_eq "$rc" 2 "exporter check-config exit code for $(basename "$f")"
    grep -q "$(basename "$f")" "$E2E_TMP/check.err" || die "exporter error does not name the file: $(cat "$E2E_TMP/check.err")"
    log "ok: both reject $(basename "$f"): promtool: $(tr '\n' ' ' <"$E2E_TMP/promtool.out" | cut -c1-120) |" \
        "exporter: $(cut -c1-160 "$E2E_TMP/check.err")"
done

# --- the exporter over TLS + client certs + basic auth -----------------------------------------------------------
port=$(free_port)
"$HFCE_BIN" --cache.dir "$hub" --web.config.file "$web" --web.listen-address "127.0.0.1:$port" \
    >"$E2E_TMP/exporter.log" 2>&1 &
EXPORTER_PID=$!
track_pid "$EXPORTER_PID" "$E2E_TMP/exporter.log"
url=https://127.0.0.1:$port
tls=(--cacert "$pki/ca.crt" --cert "$pki/prometheus.crt" --key "$pki/prometheus.key")
deadline=$((SECONDS + 15))
until curl -fsS -o /dev/null --max-time 2 "${tls[@]}" "$url/healthz" 2>/dev/null; do
    kill -0 "$EXPORTER_PID" 2>/dev/null || die "exporter exited: $(tail -n 5 "$E2E_TMP/exporter.log")"
    ((SECONDS < deadline)) || die "exporter not answering on $url/healthz"
    sleep 0.1
done
log "exporter pid $EXPORTER_PID serving $url"

if curl -sS -o /dev/null --max-time 5 --cacert "$pki/ca.crt" "$url/healthz" 2>/dev/null; then
    die "answered a client without a certificate"
fi
if curl -sS -o /dev/null --max-time 5 "http://127.0.0.1:$port/healthz" 2>/dev/null; then
    die "answered plain HTTP on the TLS port"
fi
log "ok: no answer without a client certificate or over plain HTTP"
code=$(curl -sS -o /dev/null -D "$E2E_TMP/h401" -w '%{http_code}' --max-time 5 "${tls[@]}" "$url/metrics")
assert_eq "$code" 401 "status without a password"
grep -qi '^www-authenticate: Basic realm="hf-cache-exporter"' "$E2E_TMP/h401" || die "no WWW-Authenticate: $(cat "$E2E_TMP/h401")"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "${tls[@]}" -u "prometheus:wrong" "$url/metrics")
assert_eq "$code" 401 "status with a wrong password"
body=$(curl -fsS -D "$E2E_TMP/h200" --max-time 10 "${tls[@]}" -u "prometheus:$password" "$url/metrics")
grep -qi '^x-content-type-options: nosniff' "$E2E_TMP/h200" || die "extra header missing: $(cat "$E2E_TMP/h200")"
assert_num_eq "$(metric_value "$body" hf_cache_bytes 'model="acme/secure"')" 4321 "hf_cache_bytes over TLS"

# --- a real Prometheus scrapes it -------------------------------------------------------------------------------
cat >"$E2E_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: hf-cache-exporter
    scheme: https
    scrape_interval: 1s
    scrape_timeout: 1s
    tls_config:
      ca_file: $pki/ca.crt
      cert_file: $pki/prometheus.crt
      key_file: $pki/prometheus.key
    basic_auth:
      username: prometheus
      password: $password
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
promtool check config "$E2E_TMP/prometheus.yml" >/dev/null || die "promtool rejects the scrape config"
start_prometheus "$E2E_TMP/prometheus.yml"
on_fail 'curl -s "$PROM_URL/api/v1/targets" | jq -c ".data.activeTargets[] | {health, lastError}"'
wait_prom_value 'up{job="hf-cache-exporter"}' 1 30 || die "Prometheus cannot scrape the TLS + basic auth endpoint"
wait_prom_value 'hf_cache_bytes{model="acme/secure"}' 4321 30 || die "hf_cache_bytes not stored by Prometheus"
log "PASS"
