#!/usr/bin/env bash
# test_60_textfile_node_exporter.sh: node_exporter (Debian package) ingests the `textfile` output without errors.
#
# The real huggingface_hub client writes a hub cache and a cache with a killed download (fake Hub); then
#   1. `hf-cache-exporter textfile DIR/hf_cache.prom` writes Prometheus text that `promtool check metrics` accepts;
#   2. node_exporter with only the textfile collector, pointed at DIR, reports node_textfile_scrape_error 0 and
#      re-exports hf_cache_bytes with the same values and labels as the file;
#   3. a second run replaces the file atomically (no temp file left in DIR) and node_exporter serves the new mtime;
#   4. negative control: the same node_exporter setup reports node_textfile_scrape_error 1 for a broken file, so
#      step 2 can fail.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_cmd curl promtool prometheus-node-exporter
[[ -x $E2E_PY ]] || die "venv python $E2E_PY missing; run tests/e2e/setup.sh"
[[ -x $HFCE_BIN ]] || die "exporter binary '$HFCE_BIN' missing; build it or set HFCE_BIN"

# --- caches written by the real client --------------------------------------------------------------------------
caches=$E2E_TMP/caches
"$E2E_PY" "$E2E_ROOT/tests/e2e/client_build_caches.py" --out "$caches" --only hub,killed >"$E2E_TMP/build.log" 2>&1 ||
    die "client_build_caches.py failed: $(tail -n 20 "$E2E_TMP/build.log")"
log "caches built by huggingface_hub $("$E2E_PY" -c 'import huggingface_hub as h; print(h.__version__)')"

# --- 1. textfile output -----------------------------------------------------------------------------------------
tdir=$E2E_TMP/textfile
mkdir -p "$tdir"
prom=$tdir/hf_cache.prom
"$HFCE_BIN" textfile "$prom" --cache.dir "$caches/hub" --cache.dir "$caches/killed" >"$E2E_TMP/textfile.log" 2>&1 ||
    die "textfile failed: $(cat "$E2E_TMP/textfile.log")"
[[ -s $prom ]] || die "textfile wrote nothing to $prom"
promtool check metrics <"$prom" >"$E2E_TMP/lint.out" 2>&1 || die "promtool check metrics: $(cat "$E2E_TMP/lint.out")"
grep -q '^hf_cache_bytes{' "$prom" || die "no hf_cache_bytes sample in $prom"
if grep -Eq '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [^ ]+ [0-9]+$' "$prom"; then
    die "$prom has client-side timestamps; node_exporter rejects the whole file"
fi
log "ok: textfile output passes promtool check metrics ($(grep -c '^hf_cache_' "$prom") hf_cache samples)"

# --- 2. node_exporter -------------------------------------------------------------------------------------------
# start_node_exporter DIR: node_exporter with only the textfile collector on DIR; sets NE_URL.
start_node_exporter() {
    local dir=$1 port pid logf attempt
    for attempt in 1 2 3; do
        port=$(free_port)
        logf=$E2E_TMP/node_exporter.$port.log
        prometheus-node-exporter --collector.disable-defaults --collector.textfile \
            --collector.textfile.directory="$dir" --web.listen-address="127.0.0.1:$port" >"$logf" 2>&1 &
        pid=$!
        track_pid "$pid" "$logf"
        if wait_http "http://127.0.0.1:$port/metrics" 15 "$pid"; then
            NE_URL=http://127.0.0.1:$port
            log "node_exporter pid $pid on $NE_URL reading $dir"
            return 0
        fi
        grep -qi 'address already in use' "$logf" || break
    done
    die "node_exporter did not start: $(tail -n 5 "$logf")"
}
start_node_exporter "$tdir"
scraped=$(http_get "$NE_URL/metrics")
assert_num_eq "$(metric_value "$scraped" node_textfile_scrape_error)" 0 "node_textfile_scrape_error"
metric_value "$scraped" node_textfile_mtime_seconds "file=\"$prom\"" >/dev/null ||
    die "node_exporter does not list $prom in node_textfile_mtime_seconds"
# Every hf_cache_* sample of the file is re-exported unchanged: same label set, same value (node_exporter prints
# large numbers as 1.788786e+06, so values are compared as numbers).
printf '%s\n' "$scraped" >"$E2E_TMP/scraped.txt"
n=$(python3 - "$prom" "$E2E_TMP/scraped.txt" <<'PY'
import re, sys
def samples(path):
    out = {}
    for line in open(path):
        m = re.match(r"(hf_cache_[a-zA-Z0-9_]*)(?:\{(.*)\})? (\S+)$", line.strip())
        if m:  # label order is not significant (node_exporter sorts them)
            labels = sorted(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out[m.group(1) + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"] = float(m.group(3))
    return out
want, got = samples(sys.argv[1]), samples(sys.argv[2])
bad = [f"{k} = {v} (node_exporter: {got.get(k)})" for k, v in want.items() if got.get(k) != v]
if bad:
    sys.exit("node_exporter lost or changed samples:\n  " + "\n  ".join(bad[:10]))
print(sum(1 for k in want if k.startswith("hf_cache_bytes{")))
PY
) || die "textfile samples differ in node_exporter's output (see above)"
((n >= 3)) || die "expected hf_cache_bytes for several repos, got $n"
gpt2=$(metric_value "$scraped" hf_cache_bytes 'model="gpt2"' "cache=\"$caches/hub\"")
awk -v v="$gpt2" 'BEGIN { exit !(v + 0 > 0) }' || die "hf_cache_bytes for gpt2 is $gpt2"
log "ok: node_exporter serves all $n hf_cache_bytes samples (gpt2 in hub: $gpt2 bytes)"

# --- 3. atomic replace ------------------------------------------------------------------------------------------
before=$(metric_value "$scraped" node_textfile_mtime_seconds "file=\"$prom\"")
sleep 1.1
"$HFCE_BIN" textfile "$prom" --cache.dir "$caches/hub" --cache.dir "$caches/killed" >>"$E2E_TMP/textfile.log" 2>&1 ||
    die "second textfile run failed"
leftovers=$(find "$tdir" -mindepth 1 ! -name hf_cache.prom)
[[ -z $leftovers ]] || die "textfile left files behind in the collector directory: $leftovers"
scraped=$(http_get "$NE_URL/metrics")
after=$(metric_value "$scraped" node_textfile_mtime_seconds "file=\"$prom\"")
awk -v a="$after" -v b="$before" 'BEGIN { exit !(a > b) }' || die "file mtime did not advance ($before -> $after)"
assert_num_eq "$(metric_value "$scraped" node_textfile_scrape_error)" 0 "node_textfile_scrape_error after rewrite"

# --- 4. negative control ----------------------------------------------------------------------------------------
bad=$E2E_TMP/bad
mkdir -p "$bad"
{ cat "$prom"; printf '# TYPE hf_cache_exporter_info info\nhf_cache_exporter_info{version="x"} 1\n'; } >"$bad/bad.prom"
start_node_exporter "$bad"
assert_num_eq "$(metric_value "$(http_get "$NE_URL/metrics")" node_textfile_scrape_error)" 1 \
    "negative control: node_textfile_scrape_error for an OpenMetrics 'info' type"
log "node_exporter ingests the textfile output"
