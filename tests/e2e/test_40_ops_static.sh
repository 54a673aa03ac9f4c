#!/usr/bin/env bash
# test_40_ops_static.sh: the operations artefacts are valid for the real tools, before anything runs.
#
#   1. alert rules: `promtool check rules`, `promtool test rules` (every alert firing and not firing), the alert
#      conventions + runbook anchors (ops_lint.py rules), and a negative control: the unit tests fail when the
#      rules' `for:` durations are halved; the scrape-config snippet passes `promtool check config`;
#   2. the PrometheusRule in deploy/kubernetes is the generated form of rules.yml (no drift);
#   3. dashboards: structural lint (ops_lint.py dashboards), with negative controls that must fail it;
#   4. Kubernetes: `kubectl kustomize` renders every overlay; ops_k8s.py validates each rendered object
#      (kubernetes-validate --strict for core kinds, CRD structure, security/probe/scrape policy); the rules in the
#      rendered PrometheusRule pass promtool; the rendered exporter configs pass `hf-cache-exporter check-config`;
#      kube-prometheus-stack's release label is on the scrape object and the rule; a mutated render must fail;
#   5. Dockerfile structure; the systemd unit passes `systemd-analyze verify` and its offline security score.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_cmd promtool kubectl systemd-analyze
[[ -x $E2E_PY ]] || die "venv python $E2E_PY missing; run tests/e2e/setup.sh"
cd "$E2E_ROOT"
rules=deploy/prometheus/rules.yml
K=deploy/kubernetes

# --- 1. alert rules --------------------------------------------------------------------------------------------
promtool check rules "$rules" >"$E2E_TMP/check.out" 2>&1 || die "promtool check rules $rules: $(cat "$E2E_TMP/check.out")"
log "ok: promtool check rules: $(grep -o 'SUCCESS.*' "$E2E_TMP/check.out")"
for t in deploy/prometheus/tests/*.yml; do
    promtool test rules "$t" >"$E2E_TMP/test.out" 2>&1 || die "promtool test rules $t: $(cat "$E2E_TMP/test.out")"
    log "ok: promtool test rules $t"
done
"$E2E_PY" tests/e2e/ops_lint.py rules "$rules" deploy/prometheus/tests/alerts_test.yml docs/runbooks.md ||
    die "alert rules break the conventions (see above)"

# Negative control: the unit tests pin the `for:` durations, so halving them must make `promtool test rules` fail.
mkdir -p "$E2E_TMP/mut/tests"
cp deploy/prometheus/tests/*.yml "$E2E_TMP/mut/tests/"
"$E2E_PY" - "$rules" "$E2E_TMP/mut/rules.yml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def half(m):
    n, unit = int(m.group(1)), m.group(2)
    secs = n * {"s": 1, "m": 60, "h": 3600}[unit]
    return f"for: {secs // 2}s"
open(sys.argv[2], "w").write(re.sub(r"for: (\d+)([smh])\b", half, text))
PY
if promtool test rules "$E2E_TMP"/mut/tests/*.yml >/dev/null 2>&1; then
    die "negative control: promtool unit tests still pass with every for: halved; they do not pin the durations"
fi
log "ok: negative control: unit tests fail when the for: durations are halved"

# The scrape-config snippet is a valid prometheus.yml that loads the rules.
promtool check config deploy/prometheus/scrape-config.yml >"$E2E_TMP/check.out" 2>&1 ||
    die "promtool check config deploy/prometheus/scrape-config.yml: $(cat "$E2E_TMP/check.out")"
log "ok: promtool check config deploy/prometheus/scrape-config.yml"

# --- 2. generated PrometheusRule -------------------------------------------------------------------------------
python3 deploy/prometheus/gen-prometheusrule.py --check ||
    die "$K/rules/prometheusrule.yaml is stale: run deploy/prometheus/gen-prometheusrule.py"

# --- 3. dashboards ---------------------------------------------------------------------------------------------
"$E2E_PY" tests/e2e/ops_lint.py dashboards dashboards/*.json || die "dashboard lint failed (see above)"
# Negative controls: each mutation of the overview must be caught by the lint.
mutate() { # NAME PYTHON-STATEMENT (on dict d)
    "$E2E_PY" - dashboards/hf-cache-overview.json "$E2E_TMP/mut-$1.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
panels = [p for p in d["panels"] if p["type"] != "row"]
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"))
PY
    if "$E2E_PY" tests/e2e/ops_lint.py dashboards "$E2E_TMP/mut-$1.json" >/dev/null 2>&1; then
        die "negative control '$1': the dashboard lint accepted a broken dashboard"
    fi
    log "ok: negative control '$1' rejected"
}
mutate duplicate-id 'panels[1]["id"] = panels[0]["id"]'
# shellcheck disable=SC2016  # the ${DS_...} placeholder is meant literally
mutate ds-placeholder 'panels[0]["datasource"] = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}'
mutate target-datasource 'panels[2]["targets"][0].pop("datasource")'
mutate si-bytes 'panels[0]["fieldConfig"]["defaults"]["unit"] = "decbytes"'
mutate overlap 'panels[1]["gridPos"] = dict(panels[0]["gridPos"])'
mutate no-model-var 'd["templating"]["list"] = [v for v in d["templating"]["list"] if v["name"] != "model"]'
mutate no-alerts-annotation 'd["annotations"]["list"] = d["annotations"]["list"][:1]'
mutate unpinned-schema 'd.pop("schemaVersion")'

# --- 4. Kubernetes ---------------------------------------------------------------------------------------------
log "kubectl: $(kubectl version --client 2>/dev/null | head -n 1)"
ext=$E2E_TMP/k8s
mkdir -p "$ext"
render() { # OVERLAY_DIR OUT
    kubectl kustomize "$1" >"$2" 2>"$2.err" || die "kubectl kustomize $1 failed: $(cat "$2.err")"
}
for overlay in daemonset daemonset-servicemonitor kube-prometheus-stack sidecar; do
    render "$K/$overlay" "$ext/$overlay.yaml"
    extra=()
    [[ $overlay == sidecar ]] && extra=(--expect-sidecar)
    "$E2E_PY" tests/e2e/ops_k8s.py --overlay "$overlay" --rules "$rules" --extract "$ext" "${extra[@]}" \
        <"$ext/$overlay.yaml" || die "$overlay: rendered manifests are invalid (see above)"
    promtool check rules "$ext/$overlay.rules.yml" >"$E2E_TMP/check.out" 2>&1 ||
        die "$overlay: rules of the rendered PrometheusRule: $(cat "$E2E_TMP/check.out")"
done
log "ok: promtool check rules accepts the rules of every rendered PrometheusRule"

# kube-prometheus-stack selects objects by its Helm release label.
"$E2E_PY" - "$ext/kube-prometheus-stack.yaml" <<'PY' || die "kube-prometheus-stack overlay: release label missing"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
want = {"PodMonitor", "PrometheusRule"}
got = {d["kind"] for d in docs if d["kind"] in want and d["metadata"].get("labels", {}).get("release")}
sys.exit(0 if got == want else f"release label only on {sorted(got)}")
PY
log "ok: kube-prometheus-stack overlay labels PodMonitor and PrometheusRule with release"

# The exporter must accept the configuration each overlay ships.
[[ -x $HFCE_BIN ]] || die "exporter binary '$HFCE_BIN' missing; build it or set HFCE_BIN"
n=0
for cfg in "$ext"/*.config-*; do
    out=$("$HFCE_BIN" check-config --config.file "$cfg" 2>&1) || die "check-config rejects the config in ${cfg##*/}: $out"
    n=$((n + 1))
done
((n >= 2)) || die "expected exporter configs from the daemonset and sidecar overlays, found $n"
log "ok: hf-cache-exporter check-config accepts the $n rendered configs"

# Dashboards as ConfigMaps for the Grafana sidecar: valid, labelled, and byte-identical to dashboards/*.json.
render dashboards "$ext/dashboards.yaml"
"$E2E_PY" - "$ext/dashboards.yaml" dashboards <<'PY' || die "dashboards kustomization is wrong (see above)"
import sys, pathlib, yaml, kubernetes_validate
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
files = {p.name: p.read_text() for p in pathlib.Path(sys.argv[2]).glob("*.json")}
seen = {}
for d in docs:
    kubernetes_validate.validate(d, kubernetes_validate.latest_version(), strict=True)
    assert d["metadata"]["labels"].get("grafana_dashboard") == "1", d["metadata"]["name"]
    seen.update(d["data"])
assert seen == files, f"ConfigMaps hold {sorted(seen)}, dashboards/ has {sorted(files)}"
print(f"dashboards ConfigMaps ok: {sorted(seen)}")
PY

# Negative control: a render with a typo'd field, a /metrics probe and a bad duration must be rejected.
sed 's/readOnlyRootFilesystem/readOnlyRootFileSystem/; s#path: /readyz#path: /metrics#; s/interval: 30s/interval: 30 s/' \
    "$ext/daemonset.yaml" >"$ext/mutated.yaml"
if "$E2E_PY" tests/e2e/ops_k8s.py --overlay mutated --rules "$rules" <"$ext/mutated.yaml" >"$E2E_TMP/mut.out" 2>&1; then
    die "negative control: ops_k8s.py accepted a broken DaemonSet/PodMonitor"
fi
for want in "readOnlyRootFileSystem' was unexpected" "readinessProbe on /metrics" "'30 s' does not match"; do
    grep -qF -- "$want" "$E2E_TMP/mut.out" || die "negative control: expected a problem mentioning \"$want\": $(cat "$E2E_TMP/mut.out")"
done
log "ok: negative control: broken manifests are rejected for the right reasons"

# --- 5. Dockerfile and systemd -----------------------------------------------------------------------------------
"$E2E_PY" - Dockerfile .dockerignore <<'PY' || die "Dockerfile structure (see above)"
import re, sys
text = open(sys.argv[1]).read()
ignore = open(sys.argv[2]).read().split()
stages = re.split(r"(?m)^FROM\s+", text)[1:]
problems = []
if len(stages) < 2:
    problems.append("not multi-stage")
final = stages[-1]
base = final.split()[0]
if not re.match(r"(gcr\.io/distroless/|scratch\b)", base):
    problems.append(f"final image {base} is not distroless/scratch")
if re.search(r"(?m)^RUN\b", final):
    problems.append("final stage has RUN (needs a shell)")
if not re.search(r"(?m)^USER\s+65534(:65534)?\s*$", final):
    problems.append("final stage does not set USER 65534")
m = re.search(r'(?m)^ENTRYPOINT\s+\["([^"]+)"', final)
if not m or not m.group(1).endswith("/hf-cache-exporter"):
    problems.append("ENTRYPOINT is not the exporter in exec form")
# The build may run through a script of the repo (scripts/build-static.sh); its cargo build counts too.
build = text + "".join(open(s).read() for s in re.findall(r"\bscripts/[\w.-]+\.sh\b", text))
if not re.search(r"(?m)^[^#\n]*\bcargo build\b[^\n]*--locked", build):
    problems.append("cargo build without --locked")
if not re.search(r"(?m)^EXPOSE\s+10150\b", final):
    problems.append("EXPOSE 10150 missing")
for must in ("target", ".git"):
    if must not in ignore:
        problems.append(f".dockerignore does not exclude {must}")
for p in problems:
    print(f"  - Dockerfile: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
log "ok: Dockerfile is multi-stage, distroless, USER 65534, exporter ENTRYPOINT (not built here: no Docker daemon)"

for unit in deploy/systemd/*.service; do
    # verify needs ExecStart's binary to exist: point it at the one under test.
    u=$E2E_TMP/${unit##*/}
    sed "s#/usr/local/bin/hf-cache-exporter#$HFCE_BIN#" "$unit" >"$u"
    out=$(systemd-analyze verify "$u" 2>&1) || die "systemd-analyze verify $unit: $out"
    # Unknown keys are only warnings for verify; treat every message about our unit as an error.
    if grep -F "${u##*/}" <<<"$out" | grep -q .; then die "systemd-analyze verify $unit: $out"; fi
    sec=$(systemd-analyze security --offline=true --threshold=20 "$u" 2>&1) ||
        die "$unit: exposure above 2.0: $(grep -i 'overall exposure' <<<"$sec")"
    log "ok: $unit verifies; $(grep -io 'overall exposure level.*' <<<"$sec")"
done
log "all static operations checks passed"
