#!/usr/bin/env bash
# test_10_prometheus.sh: the exporter's live output is valid for the real Prometheus tool chain.
#
# Builds a small hub cache with plain shell (a model with two revisions sharing a blob and a download in progress,
# a dataset with a nested file), starts the exporter on it, and checks:
#   1. `promtool check metrics` (Debian's promtool) accepts the live /metrics output without a single lint message;
#   2. content negotiation: plain requests get text 0.0.4, Prometheus' own Accept header gets OpenMetrics 1.0.0;
#   3. the values in the exposition match the byte/file counts computed here from what was written;
#   4. a real Prometheus scraping the exporter every second stores those values (up == 1, hf_cache_bytes for the
#      known repos, incomplete files, hf_cache_exists == 0 for a configured model that is not in the cache);
#   5. finishing the download on disk (temp file renamed to its blob) shows up in Prometheus at the next scrapes;
#   6. without --model, both repo folders are discovered and nothing else (.locks, CACHEDIR.TAG) is taken for one.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_cmd curl jq promtool prometheus sha256sum sha1sum head

# --- a hub cache, written by hand --------------------------------------------------------------------------------
hub=$E2E_TMP/hub
mkdir -p "$hub"
printf 'Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by huggingface_hub.\n' \
    >"$hub/CACHEDIR.TAG"

# new_blob REPO_DIR SIZE: write SIZE random bytes to REPO_DIR/blobs/<sha256 of the content>; print the sha.
new_blob() {
    local repo=$1 size=$2 tmp sha
    mkdir -p "$repo/blobs"
    tmp=$(mktemp "$E2E_TMP/blob.XXXXXX")
    head -c "$size" /dev/urandom >"$tmp"
    sha=$(sha256sum "$tmp" | cut -d' ' -f1)
    mv "$tmp" "$repo/blobs/$sha"
    printf '%s\n' "$sha"
}
# link_file REPO_DIR COMMIT PATH SHA: snapshots/COMMIT/PATH -> ../../blobs/SHA (one more ../ per folder in PATH).
link_file() {
    local repo=$1 commit=$2 path=$3 sha=$4 up="../.." rest=$3
    while [[ $rest == */* ]]; do up="$up/.."; rest=${rest#*/}; done
    mkdir -p "$(dirname "$repo/snapshots/$commit/$path")"
    ln -s "$up/blobs/$sha" "$repo/snapshots/$commit/$path"
}
commit_of() { printf '%s' "$1" | sha1sum | cut -c1-40; }

# models--acme--tiny: revision 1 and 2 share the weights blob; a download of a third blob is in progress.
tiny=$hub/models--acme--tiny
rev1=$(commit_of tiny-rev1)
rev2=$(commit_of tiny-rev2)
size_cfg1=1234 size_weights=70000 size_cfg2=1300 size_temp=4096
cfg1=$(new_blob "$tiny" $size_cfg1)
weights=$(new_blob "$tiny" $size_weights)
cfg2=$(new_blob "$tiny" $size_cfg2)
link_file "$tiny" "$rev1" config.json "$cfg1"
link_file "$tiny" "$rev1" model.safetensors "$weights"
link_file "$tiny" "$rev2" config.json "$cfg2"
link_file "$tiny" "$rev2" model.safetensors "$weights"
mkdir -p "$tiny/refs"
printf '%s' "$rev2" >"$tiny/refs/main" # huggingface_hub writes refs without a trailing newline
pending=$(printf 'pending-tokenizer' | sha256sum | cut -d' ' -f1)
head -c $size_temp /dev/urandom >"$tiny/blobs/$pending.1a2b3c4d.incomplete"
mkdir -p "$hub/.locks/models--acme--tiny"
: >"$hub/.locks/models--acme--tiny/$pending.lock"

# datasets--acme--data: one revision with a nested file.
data=$hub/datasets--acme--data
drev=$(commit_of data-rev1)
size_csv=5000 size_readme=300
csv=$(new_blob "$data" $size_csv)
readme=$(new_blob "$data" $size_readme)
link_file "$data" "$drev" data/train.csv "$csv"
link_file "$data" "$drev" README.md "$readme"
mkdir -p "$data/refs"
printf '%s' "$drev" >"$data/refs/main"

# Expected values, from the sizes written above. Snapshot entries are symlinks, so each blob counts once;
# hf_cache_bytes includes the temp file, hf_cache_files does not.
tiny_bytes=$((size_cfg1 + size_weights + size_cfg2 + size_temp))
tiny_files=3
data_bytes=$((size_csv + size_readme))
data_files=2
[[ $(find "$tiny/snapshots" -type l | wc -l) -eq 4 ]] || die "fixture: expected 4 snapshot symlinks in $tiny"
[[ -f $data/snapshots/$drev/data/train.csv ]] || die "fixture: nested symlink data/train.csv does not resolve"
log "cache at $hub: acme/tiny $tiny_bytes bytes ($tiny_files files + 1 temp), acme/data $data_bytes bytes"

# --- the exporter, with two existing repos and one configured-but-absent model -----------------------------------
start_exporter --cache.dir "$hub" --scan.mode on-scrape \
    --model acme/tiny --model acme/absent --model datasets/acme/data

# 1. promtool check metrics on the live text output: no output at all, exit 0.
curl -fsS --max-time 10 -D "$E2E_TMP/plain.headers" -o "$E2E_TMP/plain.txt" "$EXPORTER_URL/metrics" ||
    die "GET /metrics failed"
lint_rc=0
lint=$(promtool check metrics <"$E2E_TMP/plain.txt" 2>&1) || lint_rc=$?
[[ $lint_rc -eq 0 && -z $lint ]] || die "promtool check metrics (exit $lint_rc) on /metrics: ${lint:-<no output>}"
log "ok: promtool check metrics is silent on /metrics ($(wc -l <"$E2E_TMP/plain.txt") lines)"

# 2. content negotiation.
content_type() { tr -d '\r' <"$1" | awk 'tolower($1) == "content-type:" { sub(/^[^:]*:[ \t]*/, ""); print }'; }
assert_eq "$(content_type "$E2E_TMP/plain.headers")" 'text/plain; version=0.0.4; charset=utf-8' \
    "Content-Type for a plain GET /metrics"
curl -fsS --max-time 10 -H 'Accept: text/plain' -D "$E2E_TMP/text.headers" -o /dev/null "$EXPORTER_URL/metrics"
assert_eq "$(content_type "$E2E_TMP/text.headers")" 'text/plain; version=0.0.4; charset=utf-8' \
    "Content-Type for Accept: text/plain"
# The Accept header Prometheus 2.42 sends (captured from a real scrape).
prom_accept='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
curl -fsS --max-time 10 -H "Accept: $prom_accept" -D "$E2E_TMP/om.headers" -o "$E2E_TMP/om.txt" \
    "$EXPORTER_URL/metrics"
assert_eq "$(content_type "$E2E_TMP/om.headers")" 'application/openmetrics-text; version=1.0.0; charset=utf-8' \
    "Content-Type for Prometheus' Accept header"
assert_eq "$(tail -n 1 "$E2E_TMP/om.txt")" '# EOF' "last line of the OpenMetrics body"

# 3. the exposition itself.
text=$(cat "$E2E_TMP/plain.txt")
sel_tiny=(model=\"acme/tiny\" repo_type=\"model\" "cache=\"$hub\"")
sel_data=(model=\"acme/data\" repo_type=\"dataset\" "cache=\"$hub\"")
sel_absent=(model=\"acme/absent\" repo_type=\"model\")
assert_num_eq "$(metric_value "$text" hf_cache_bytes "${sel_tiny[@]}")" $tiny_bytes "hf_cache_bytes acme/tiny"
assert_num_eq "$(metric_value "$text" hf_cache_files "${sel_tiny[@]}")" $tiny_files "hf_cache_files acme/tiny"
assert_num_eq "$(metric_value "$text" hf_cache_incomplete_files "${sel_tiny[@]}")" 1 \
    "hf_cache_incomplete_files acme/tiny"
assert_num_eq "$(metric_value "$text" hf_cache_incomplete_bytes "${sel_tiny[@]}")" $size_temp \
    "hf_cache_incomplete_bytes acme/tiny"
assert_num_eq "$(metric_value "$text" hf_cache_revisions "${sel_tiny[@]}")" 2 "hf_cache_revisions acme/tiny"
assert_num_eq "$(metric_value "$text" hf_cache_exists "${sel_tiny[@]}")" 1 "hf_cache_exists acme/tiny"
assert_num_eq "$(metric_value "$text" hf_cache_bytes "${sel_data[@]}")" $data_bytes "hf_cache_bytes acme/data"
assert_num_eq "$(metric_value "$text" hf_cache_files "${sel_data[@]}")" $data_files "hf_cache_files acme/data"
assert_num_eq "$(metric_value "$text" hf_cache_incomplete_files "${sel_data[@]}")" 0 \
    "hf_cache_incomplete_files acme/data"
assert_num_eq "$(metric_value "$text" hf_cache_exists "${sel_absent[@]}")" 0 "hf_cache_exists acme/absent"
assert_num_eq "$(metric_value "$text" hf_cache_root_exists "cache=\"$hub\"")" 1 "hf_cache_root_exists"
assert_num_eq "$(metric_value "$text" hf_cache_scan_success "cache=\"$hub\"")" 1 "hf_cache_scan_success"
assert_num_eq "$(metric_value "$text" hf_cache_exporter_build_info)" 1 "hf_cache_exporter_build_info"

# 4. a real Prometheus scraping the exporter every second.
prom_scrape_config "$EXPORTER_ADDR" 1s >"$E2E_TMP/prometheus.yml"
promtool check config "$E2E_TMP/prometheus.yml" >/dev/null || die "promtool check config rejected our prometheus.yml"
start_prometheus "$E2E_TMP/prometheus.yml"
q_tiny="model=\"acme/tiny\",repo_type=\"model\",cache=\"$hub\""
wait_prom_value 'up{job="hf-cache-exporter"}' 1 || die "Prometheus does not see the exporter as up"
wait_prom_value "hf_cache_bytes{$q_tiny}" $tiny_bytes || die "hf_cache_bytes for acme/tiny in Prometheus"
wait_prom_value 'hf_cache_bytes{model="acme/data",repo_type="dataset"}' $data_bytes ||
    die "hf_cache_bytes for acme/data in Prometheus"
wait_prom_value "hf_cache_incomplete_files{$q_tiny}" 1 || die "hf_cache_incomplete_files for acme/tiny in Prometheus"
wait_prom_value 'hf_cache_exists{model="acme/absent"}' 0 || die "hf_cache_exists for the absent model in Prometheus"
wait_prom_value 'hf_cache_exists{model="acme/tiny"}' 1 || die "hf_cache_exists for acme/tiny in Prometheus"
wait_prom_value 'hf_cache_exporter_build_info{job="hf-cache-exporter"}' 1 || die "build_info in Prometheus"
wait_prom_value "hf_cache_scan_success{cache=\"$hub\"}" 1 || die "hf_cache_scan_success in Prometheus"
# Scans happen on scrape, and the OpenMetrics counter (family hf_cache_scans, sample _total) is stored as one
# series that rate() can use.
wait_prom_value "rate(hf_cache_scans_total{cache=\"$hub\"}[10s]) > bool 0" 1 ||
    die "hf_cache_scans_total is not increasing with scrapes"

# 5. the download completes on disk: the temp file becomes a blob. Same bytes, no temp file, one more file.
mv "$tiny/blobs/$pending.1a2b3c4d.incomplete" "$tiny/blobs/$pending"
wait_prom_value "hf_cache_incomplete_files{$q_tiny}" 0 ||
    die "finished download not reflected: hf_cache_incomplete_files stays non-zero"
wait_prom_value "hf_cache_files{$q_tiny}" $((tiny_files + 1)) || die "hf_cache_files after the download finished"
wait_prom_value "hf_cache_bytes{$q_tiny}" $tiny_bytes || die "hf_cache_bytes after the download finished"

# 6. discovery: no --model, so every repo folder of the root is exported, and nothing else.
start_exporter --cache.dir "$hub"
text=$(http_get "$EXPORTER_URL/metrics") || die "GET /metrics (discovery exporter) failed"
assert_num_eq "$(metric_value "$text" hf_cache_bytes "${sel_tiny[@]}")" $tiny_bytes \
    "hf_cache_bytes acme/tiny (discovered)"
assert_num_eq "$(metric_value "$text" hf_cache_bytes "${sel_data[@]}")" $data_bytes \
    "hf_cache_bytes acme/data (discovered)"
assert_num_eq "$(grep -c '^hf_cache_exists{' <<<"$text" || true)" 2 "number of hf_cache_exists series (discovered)"

log "all checks passed"
