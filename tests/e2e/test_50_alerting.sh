#!/usr/bin/env bash
# test_50_alerting.sh: the on-call story end to end, on real parts, all on 127.0.0.1.
#
#   fake Hub  <- real huggingface_hub download (paused mid-file by the Hub)
#   hf-cache-exporter over that cache + a cache holding a SIGKILLed download
#   Prometheus (Debian) scraping it every second with the SHIPPED rules, `for:` scaled from minutes to seconds
#   Alertmanager (Debian) routing to a webhook receiver that stands in for the pager
#
# Checks, in story order:
#   1. HfCacheDownloadStalled fires for the paused repo only, reaches Alertmanager (its API) and the pager with
#      severity and runbook_url;
#   2. meanwhile every dashboard query and variable query (variables substituted like Grafana does) returns
#      series from this Prometheus, and every metric name used by the dashboards and rules is in the exporter's
#      live output; HfCacheAbandonedFiles fires for the killed download and HfCacheModelMissing for a configured
#      repo that is not there;
#   3. the Hub resumes, the client finishes (exit 0), the alert resolves in Prometheus and in Alertmanager, and
#      the pager gets the "resolved" notification;
#   4. stopping the exporter fires HfCacheExporterDown.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_cmd curl jq promtool prometheus prometheus-alertmanager amtool
[[ -x $E2E_PY ]] || die "venv python $E2E_PY missing; run tests/e2e/setup.sh"
cd "$E2E_ROOT"

BIG=acme-org/big-model
MISSING=acme-org/never-downloaded

# wait_file FILE [TIMEOUT_S]: until FILE exists and is non-empty.
wait_file() {
    local deadline=$((SECONDS + ${2:-30}))
    until [[ -s $1 ]]; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}
# wait_for TIMEOUT_S WHAT CMD...: poll CMD every 0.5 s until it succeeds; die with WHAT on timeout.
wait_for() {
    local timeout=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "timed out after ${timeout}s waiting for: $what"
        sleep 0.5
    done
    log "ok: $what"
}

# --- fake Hub and the pager ---------------------------------------------------------------------------------------
"$E2E_PY" tests/fakehub/fake_hub.py --port-file "$E2E_TMP/hub.port" --log "$E2E_TMP/hub.requests.jsonl" \
    >"$E2E_TMP/hub.log" 2>&1 &
track_pid $! "$E2E_TMP/hub.log"
wait_file "$E2E_TMP/hub.port" 30 || die "fake hub did not start"
HUB=http://127.0.0.1:$(cat "$E2E_TMP/hub.port")
hub_control() { curl -fsS --max-time 10 -X POST "$HUB/_control/$1" >/dev/null; }

notifications=$E2E_TMP/notifications.jsonl
: >"$notifications"
"$E2E_PY" tests/e2e/ops_webhook.py --port-file "$E2E_TMP/hook.port" --out "$notifications" >"$E2E_TMP/hook.log" 2>&1 &
track_pid $! "$E2E_TMP/hook.log"
wait_file "$E2E_TMP/hook.port" 15 || die "webhook receiver did not start"
HOOK=http://127.0.0.1:$(cat "$E2E_TMP/hook.port")/hook

# --- caches ---------------------------------------------------------------------------------------------------------
caches=$E2E_TMP/caches
# "killed": gpt2 complete + a download of $BIG SIGKILLed mid-file (its .incomplete stays behind forever).
"$E2E_PY" tests/e2e/client_build_caches.py --out "$caches" --hub-url "$HUB" --only killed >"$E2E_TMP/build.log" 2>&1 ||
    die "client_build_caches.py failed: $(tail -n 20 "$E2E_TMP/build.log")"
live=$caches/live
mkdir -p "$live"

# The download the story is about: the Hub stops sending after 12 MiB of the 48 MiB weights, so the client keeps
# its connection and lock and writes nothing more (the temp file stays at its first 10 MiB chunk).
hub_control "pause?after_bytes=$((12 * 1024 * 1024))"
env -i PATH="$PATH" HOME="$E2E_TMP" HF_ENDPOINT="$HUB" HF_HUB_DISABLE_XET=1 HF_HOME="$E2E_TMP/hf-home" \
    HF_HUB_CACHE="$live" HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_DOWNLOAD_TIMEOUT=600 \
    NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost \
    "$E2E_PY" -c "import sys, huggingface_hub as h; print(h.snapshot_download(sys.argv[1]))" "$BIG" \
    >"$E2E_TMP/download.out" 2>"$E2E_TMP/download.log" &
download_pid=$!
track_pid "$download_pid" "$E2E_TMP/download.log"
big_blobs=$live/models--${BIG//\//--}/blobs
temp_has_bytes() { find "$big_blobs" -maxdepth 1 -name '*.incomplete' -size +0 2>/dev/null | grep -q .; }
wait_for 60 "the client's temp file for $BIG has bytes" temp_has_bytes
kill -0 "$download_pid" || die "the download exited early: $(cat "$E2E_TMP/download.log")"
log "paused download: $(find "$big_blobs" -maxdepth 1 -name '*.incomplete' -printf '%f %s bytes\n')"

# --- exporter, Alertmanager, Prometheus -----------------------------------------------------------------------------
# stall-after scaled down from 5m to 3s. abandon-after stays long: "unchanged for abandon-after" marks a temp file
# abandoned whatever its lock says, and the paused download must stay a live, stalled one. The killed download is
# abandoned anyway: its lock file exists and no process holds it.
start_exporter --cache.dir "$live" --cache.dir "$caches/killed" \
    --model "$BIG" --model gpt2 --model "$MISSING" \
    --downloads.stall-after 3s --downloads.abandon-after 10m --downloads.lock-probe auto

cat >"$E2E_TMP/am.yml" <<YAML
route:
  receiver: pager
  group_by: [alertname, cache, model, instance]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: pager
    webhook_configs:
      - url: $HOOK
        send_resolved: true
YAML
amtool check-config "$E2E_TMP/am.yml" >"$E2E_TMP/amtool.out" 2>&1 || die "amtool check-config: $(cat "$E2E_TMP/amtool.out")"
for attempt in 1 2 3; do
    am_port=$(free_port)
    prometheus-alertmanager --config.file="$E2E_TMP/am.yml" --storage.path="$E2E_TMP/am-data" \
        --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= >"$E2E_TMP/am.$attempt.log" 2>&1 &
    am_pid=$!
    track_pid "$am_pid" "$E2E_TMP/am.$attempt.log"
    wait_http "http://127.0.0.1:$am_port/-/ready" 30 "$am_pid" && break
    [[ $attempt -lt 3 ]] || die "alertmanager did not start: $(tail -n 5 "$E2E_TMP/am.$attempt.log")"
done
AM=http://127.0.0.1:$am_port
log "alertmanager on $AM"

# The shipped rules with every `for:` scaled from minutes to seconds (2m -> 2s); nothing else changes.
sed -E 's/^( *for: )([0-9]+)m$/\1\2s/' deploy/prometheus/rules.yml >"$E2E_TMP/rules.scaled.yml"
grep -Eq '^ *for: [0-9]+[^s0-9]' "$E2E_TMP/rules.scaled.yml" && die "unscaled for: left in the test rules"
cmp -s deploy/prometheus/rules.yml "$E2E_TMP/rules.scaled.yml" && die "scaling changed nothing"
{
    prom_scrape_config "$EXPORTER_ADDR" 1s hf-cache-exporter
    cat <<YAML
rule_files:
  - $E2E_TMP/rules.scaled.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:$am_port']
YAML
} >"$E2E_TMP/prometheus.yml"
promtool check config "$E2E_TMP/prometheus.yml" >"$E2E_TMP/promcheck.out" 2>&1 ||
    die "promtool check config: $(cat "$E2E_TMP/promcheck.out")"
start_prometheus "$E2E_TMP/prometheus.yml"
# On failure, what each part believes, compactly (CI shows only the tail of the output).
# shellcheck disable=SC2016  # evaluated at failure time, by the EXIT trap
{
    on_fail 'http_get "$EXPORTER_URL/metrics" | grep -E "^hf_cache_(download_(active|stalled)|abandoned_files|lock_probe)" | grep big-model | sed "s|cache=\"[^\"]*/caches/|cache=\"|" | head -n 8'
    on_fail 'curl -sS --max-time 5 "$PROM_URL/api/v1/targets" | jq -c ".data.activeTargets[] | {health, lastError}"; curl -sS --max-time 5 "$PROM_URL/api/v1/alertmanagers" | jq -c ".data.activeAlertmanagers"'
    on_fail 'prom_query ALERTS | jq -c ".[].metric | [.alertname, .alertstate, .model, (.cache // \"\" | sub(\".*/\"; \"\"))]" | head -n 8'
    on_fail 'curl -sS --max-time 5 "$AM/api/v2/alerts" | jq -c ".[] | [.labels.alertname, .labels.model, .status.state]" | head -n 6; echo "pager notifications: $(wc -l <"$notifications")"'
}
wait_prom_value 'up{job="hf-cache-exporter"}' 1 60 || die "Prometheus does not scrape the exporter"

# --- 1. stalled download pages -----------------------------------------------------------------------------------
firing() { # ALERTNAME [LABEL=VALUE...]: the alert is firing in Prometheus with these labels
    local sel="alertname=\"$1\",alertstate=\"firing\"" kv
    shift
    for kv in "$@"; do sel="$sel,${kv%%=*}=\"${kv#*=}\""; done
    [[ $(prom_query "ALERTS{$sel}" | jq length) -ge 1 ]]
}
am_active() { # ALERTNAME MODEL: Alertmanager holds an active alert
    curl -fsS --max-time 5 --get "$AM/api/v2/alerts" --data-urlencode "filter=alertname=\"$1\"" \
        --data-urlencode "filter=model=\"$2\"" --data-urlencode "active=true" |
        jq -e 'length >= 1 and (.[0].status.state == "active")'
}
paged() { # STATUS ALERTNAME MODEL: the pager got a notification with this status for the alert
    jq -e --arg s "$1" --arg a "$2" --arg m "$3" \
        'select(.status == $s) | .alerts[] | select(.status == $s and .labels.alertname == $a and .labels.model == $m)' \
        "$notifications" | grep -q .
}
wait_for 90 "HfCacheDownloadStalled firing in Prometheus for $BIG" \
    firing HfCacheDownloadStalled model="$BIG" cache="$live"
stalled=$(prom_query 'ALERTS{alertname="HfCacheDownloadStalled",alertstate="firing"}')
jq -e --arg m "$BIG" --arg c "$live" 'length == 1 and .[0].metric.model == $m and .[0].metric.cache == $c' \
    <<<"$stalled" >/dev/null || die "HfCacheDownloadStalled should fire for $BIG in $live only, got $stalled"
wait_for 60 "HfCacheDownloadStalled active in Alertmanager" am_active HfCacheDownloadStalled "$BIG"
wait_for 60 "the pager got HfCacheDownloadStalled (firing)" paged firing HfCacheDownloadStalled "$BIG"
jq -e --arg m "$BIG" 'select(.status == "firing") | .alerts[] | select(.labels.alertname == "HfCacheDownloadStalled")
        | select(.labels.severity == "critical" and .labels.model == $m
                 and (.annotations.runbook_url | endswith("docs/runbooks.md#hfcachedownloadstalled"))
                 and (.annotations.description | contains($m)))' "$notifications" | grep -q . ||
    die "the page lacks severity/runbook_url/description: $(tail -n 1 "$notifications")"
log "ok: the page says: $(jq -r 'select(.status == "firing") | .alerts[] | select(.labels.alertname == "HfCacheDownloadStalled") | .annotations.description' "$notifications" | head -n 1)"

# --- 2. dashboards, metric names, the other alerts of this cache ----------------------------------------------------
wait_for 60 "HfCacheAbandonedFiles firing for the killed download" \
    firing HfCacheAbandonedFiles model="$BIG" cache="$caches/killed"
wait_for 60 "HfCacheModelMissing firing for $MISSING" firing HfCacheModelMissing model="$MISSING"
if firing HfCacheDownloadStalled cache="$caches/killed"; then die "the killed download is reported stalled"; fi
if firing HfCacheAbandonedFiles cache="$live"; then die "the paused live download is reported abandoned"; fi

exposition=$(http_get "$EXPORTER_URL/metrics")
missing_names=()
while read -r name; do
    case $name in up | ALERTS) continue ;; esac
    grep -qE "^$name(\{| )" <<<"$exposition" || missing_names+=("$name")
done < <("$E2E_PY" tests/e2e/ops_lint.py metric-names deploy/prometheus/rules.yml dashboards/*.json)
((${#missing_names[@]} == 0)) ||
    die "metrics used by dashboards/rules but absent from the exporter's output: ${missing_names[*]}"
log "ok: every metric name used by dashboards and rules is in the exporter's output"

"$E2E_PY" tests/e2e/ops_promql.py --prom "$PROM_URL" --require-nonempty --prefer "model=$BIG" --prefer "cache=$live" \
    dashboards/*.json >"$E2E_TMP/dashqueries.out" || {
    cat "$E2E_TMP/dashqueries.out" >&2
    die "some dashboard queries fail or are empty against a Prometheus that scraped the exporter (see above)"
}
log "ok: $(tail -n 1 "$E2E_TMP/dashqueries.out") and non-empty"

# --- 3. resume: the download finishes and the alert resolves ------------------------------------------------------
hub_control resume
log "hub resumed"
wait "$download_pid" || die "the download failed after resume: $(tail -n 20 "$E2E_TMP/download.log")"
log "ok: client finished: $(tail -n 1 "$E2E_TMP/download.out")"
not_firing() { ! firing "$@"; }
wait_for 60 "HfCacheDownloadStalled resolved in Prometheus" not_firing HfCacheDownloadStalled model="$BIG"
am_gone() { ! am_active "$@"; }
wait_for 60 "HfCacheDownloadStalled no longer active in Alertmanager" am_gone HfCacheDownloadStalled "$BIG"
wait_for 30 "the pager got HfCacheDownloadStalled (resolved)" paged resolved HfCacheDownloadStalled "$BIG"
exposition=$(http_get "$EXPORTER_URL/metrics")
assert_num_eq "$(metric_value "$exposition" hf_cache_incomplete_files "model=\"$BIG\"" "cache=\"$live\"")" 0 \
    "temp files of $BIG after the download"

# --- 4. exporter down ----------------------------------------------------------------------------------------------
kill -TERM "$EXPORTER_PID"
wait_for 60 "HfCacheExporterDown firing after the exporter stopped" firing HfCacheExporterDown job=hf-cache-exporter
down_paged() {
    jq -e 'select(.status == "firing") | .alerts[] | select(.labels.alertname == "HfCacheExporterDown")' \
        "$notifications" | grep -q .
}
wait_for 30 "the pager got HfCacheExporterDown" down_paged
log "on-call story complete: stalled -> paged -> resumed -> resolved; exporter down -> paged"
