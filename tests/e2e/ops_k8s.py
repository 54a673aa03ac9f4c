#!/usr/bin/env python3
"""Validate the objects one kustomize overlay renders to (`kubectl kustomize DIR | ops_k8s.py ...`).

    ops_k8s.py --overlay NAME --rules deploy/prometheus/rules.yml [--extract DIR] [--expect-sidecar] < rendered.yaml

1. Core objects: `kubernetes_validate` (PyPI) with --strict schemas for the oldest and newest Kubernetes it ships
   (unknown fields, wrong types and missing kinds are errors, not warnings).
2. prometheus-operator objects (PodMonitor, ServiceMonitor, PrometheusRule): a structural test against a
   hand-written subset of their CRD schemas (only the fields we use, additionalProperties false, the operator's
   duration pattern). The real CRDs are not available from any package registry here.
3. Policy the issue asks for: non-root uid 65534, read-only root filesystem, no privilege escalation, all
   capabilities dropped, seccomp RuntimeDefault, requests and limits, liveness /healthz, readiness /readyz, no
   probe on /metrics, every cache mount read-only, hostPID off on the DaemonSet, shareProcessNamespace on the
   sidecar; scrape objects select existing pods/services on existing port names, relabel job to the one the
   rules use; the PrometheusRule is rules.yml verbatim.
With --extract DIR it writes DIR/<overlay>.config-<configmap>.yaml (the exporter config, for `check-config`)
and DIR/<overlay>.rules.yml (the PrometheusRule's spec, for `promtool check rules`).
"""

import argparse
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

K8S_VERSIONS = ("1.25.0", kubernetes_validate.latest_version())
JOB = "hf-cache-exporter"
PROBLEMS = []


def problem(msg):
    PROBLEMS.append(msg)


# --- structural subset of the prometheus-operator CRDs (monitoring.coreos.com/v1, operator v0.7x+) ---------

DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
METADATA = {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 253},
    "namespace": {"type": "string"}, "labels": LABELS, "annotations": LABELS}}
SELECTOR = {"type": "object", "additionalProperties": False, "properties": {
    "matchLabels": LABELS,
    "matchExpressions": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                                      "required": ["key", "operator"], "properties": {
                                                          "key": {"type": "string"},
                                                          "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                                                          "values": {"type": "array", "items": {"type": "string"}}}}}}}
RELABEL = {"type": "object", "additionalProperties": False, "properties": {
    "action": {"enum": ["replace", "Replace", "keep", "Keep", "drop", "Drop", "hashmod", "HashMod", "labelmap",
                        "LabelMap", "labeldrop", "LabelDrop", "labelkeep", "LabelKeep", "lowercase", "Lowercase",
                        "uppercase", "Uppercase", "keepequal", "KeepEqual", "dropequal", "DropEqual"]},
    "modulus": {"type": "integer"}, "regex": {"type": "string"}, "replacement": {"type": "string"},
    "separator": {"type": "string"},
    "sourceLabels": {"type": "array", "items": {"type": "string", "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$"}},
    "targetLabel": {"type": "string"}}}
ENDPOINT = {"type": "object", "additionalProperties": False, "properties": {
    "port": {"type": "string"}, "path": {"type": "string"}, "scheme": {"enum": ["http", "https"]},
    "interval": DURATION, "scrapeTimeout": DURATION, "honorLabels": {"type": "boolean"},
    "relabelings": {"type": "array", "items": RELABEL},
    "metricRelabelings": {"type": "array", "items": RELABEL}}}
NS_SELECTOR = {"type": "object", "additionalProperties": False, "properties": {
    "any": {"type": "boolean"}, "matchNames": {"type": "array", "items": {"type": "string"}}}}


def crd_object(kind, spec):
    return {"type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "metadata", "spec"],
            "properties": {"apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": kind},
                           "metadata": METADATA, "spec": spec}}


CRD_SCHEMAS = {
    "PodMonitor": crd_object("PodMonitor", {
        "type": "object", "additionalProperties": False, "required": ["selector", "podMetricsEndpoints"],
        "properties": {"selector": SELECTOR, "namespaceSelector": NS_SELECTOR, "jobLabel": {"type": "string"},
                       "podTargetLabels": {"type": "array", "items": {"type": "string"}},
                       "sampleLimit": {"type": "integer", "minimum": 0},
                       "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": ENDPOINT}}}),
    "ServiceMonitor": crd_object("ServiceMonitor", {
        "type": "object", "additionalProperties": False, "required": ["selector", "endpoints"],
        "properties": {"selector": SELECTOR, "namespaceSelector": NS_SELECTOR, "jobLabel": {"type": "string"},
                       "targetLabels": {"type": "array", "items": {"type": "string"}},
                       "podTargetLabels": {"type": "array", "items": {"type": "string"}},
                       "sampleLimit": {"type": "integer", "minimum": 0},
                       "endpoints": {"type": "array", "minItems": 1, "items": ENDPOINT}}}),
    "PrometheusRule": crd_object("PrometheusRule", {
        "type": "object", "additionalProperties": False, "properties": {"groups": {
            "type": "array", "items": {"type": "object", "additionalProperties": False, "required": ["name", "rules"],
                                       "properties": {"name": {"type": "string", "minLength": 1},
                                                      "interval": DURATION, "limit": {"type": "integer"},
                                                      "rules": {"type": "array", "items": {
                                                          "type": "object", "additionalProperties": False,
                                                          "required": ["expr"],
                                                          "properties": {"alert": {"type": "string"},
                                                                         "record": {"type": "string"},
                                                                         "expr": {"type": ["string", "integer"]},
                                                                         "for": DURATION,
                                                                         "keep_firing_for": DURATION,
                                                                         "labels": LABELS,
                                                                         "annotations": LABELS}}}}}}}}),
}


# --- helpers -----------------------------------------------------------------------------------------------

def ident(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def matches(selector, labels):
    ml = (selector or {}).get("matchLabels", {})
    return bool(ml) and all(labels.get(k) == v for k, v in ml.items())


def pod_templates(docs):
    for d in docs:
        if d.get("kind") in ("DaemonSet", "Deployment", "StatefulSet"):
            yield d, d["spec"]["template"]


def is_exporter(container):
    return "hf-cache-exporter" in container.get("image", "")


def check_exporter_container(where, c, pod_spec):
    psc = pod_spec.get("securityContext", {})
    sc = c.get("securityContext", {})
    eff = {**psc, **sc}
    if eff.get("runAsNonRoot") is not True:
        problem(f"{where}: runAsNonRoot must be true")
    if eff.get("runAsUser") != 65534:
        problem(f"{where}: runAsUser must be 65534 (nobody), got {eff.get('runAsUser')}")
    if sc.get("readOnlyRootFilesystem") is not True:
        problem(f"{where}: readOnlyRootFilesystem must be true")
    if sc.get("allowPrivilegeEscalation") is not False:
        problem(f"{where}: allowPrivilegeEscalation must be false")
    if "ALL" not in sc.get("capabilities", {}).get("drop", []) or sc.get("capabilities", {}).get("add"):
        problem(f"{where}: capabilities must drop ALL and add none")
    if eff.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problem(f"{where}: seccompProfile must be RuntimeDefault")
    res = c.get("resources", {})
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory") if kind == "requests" else ("memory",):
            if r not in res.get(kind, {}):
                problem(f"{where}: resources.{kind}.{r} missing")
    live = c.get("livenessProbe", {}).get("httpGet", {})
    ready = c.get("readinessProbe", {}).get("httpGet", {})
    if live.get("path") != "/healthz":
        problem(f"{where}: livenessProbe must GET /healthz")
    if ready.get("path") != "/readyz":
        problem(f"{where}: readinessProbe must GET /readyz")
    ports = {p.get("name") for p in c.get("ports", [])}
    for probe in (live, ready):
        if probe.get("port") not in ports:
            problem(f"{where}: probe port {probe.get('port')!r} is not a named port of the container")
    for m in c.get("volumeMounts", []):
        if m.get("readOnly") is not True:
            problem(f"{where}: volumeMount {m.get('name')} must be readOnly")
    args = c.get("args", [])
    if not any(a.startswith("--config.file=") for a in args):
        problem(f"{where}: no --config.file argument")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--overlay", required=True)
    ap.add_argument("--rules", required=True, help="deploy/prometheus/rules.yml")
    ap.add_argument("--extract", type=Path)
    ap.add_argument("--expect-sidecar", action="store_true", help="the exporter must be a sidecar of a Deployment")
    args = ap.parse_args()
    ov = args.overlay

    docs = [d for d in yaml.safe_load_all(sys.stdin.read()) if d]
    if not docs:
        problem(f"{ov}: kustomize rendered nothing")
    core = crds = 0
    for d in docs:
        where = f"{ov}: {ident(d)}"
        if d.get("apiVersion", "").startswith("monitoring.coreos.com/"):
            schema = CRD_SCHEMAS.get(d.get("kind"))
            if schema is None:
                problem(f"{where}: no structural schema for this kind")
                continue
            for err in jsonschema.Draft7Validator(schema).iter_errors(d):
                problem(f"{where}: {'.'.join(map(str, err.absolute_path))}: {err.message}")
            crds += 1
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(d, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                problem(f"{where}: Kubernetes {version} --strict: {'.'.join(map(str, err.path))}: {err.message}")
            except kubernetes_validate.SchemaNotFoundError as err:
                problem(f"{where}: Kubernetes {version} has no schema: {err}")
        core += 1

    # --- policy ---
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    exporters = 0
    pods = []  # (labels, ports of the exporter)
    for owner, tmpl in pod_templates(docs):
        spec = tmpl["spec"]
        labels = tmpl.get("metadata", {}).get("labels", {})
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if c.get(probe, {}).get("httpGet", {}).get("path") == "/metrics":
                    problem(f"{ov}: {ident(owner)}/{c['name']}: {probe} on /metrics walks the cache on every probe")
        ex = [c for c in spec.get("containers", []) + spec.get("initContainers", []) if is_exporter(c)]
        if not ex:
            continue
        for c in ex:
            exporters += 1
            where = f"{ov}: {ident(owner)}/{c['name']}"
            check_exporter_container(where, c, spec)
            pods.append((labels, {p["name"] for p in c.get("ports", []) if "name" in p}))
            vols = {v["name"]: v for v in spec.get("volumes", [])}
            for m in c.get("volumeMounts", []):
                v = vols.get(m["name"])
                if v is None:
                    problem(f"{where}: mounts undefined volume {m['name']}")
                elif "configMap" in v:
                    cm = configmaps.get(v["configMap"]["name"])
                    if cm is None:
                        problem(f"{where}: volume {m['name']} uses ConfigMap {v['configMap']['name']}, not rendered")
                    elif args.extract:
                        for key, text in cm.get("data", {}).items():
                            out = args.extract / f"{ov}.config-{cm['metadata']['name']}-{key}"
                            out.write_text(text)
                elif "hostPath" in v and v["hostPath"].get("type") != "Directory":
                    problem(f"{where}: hostPath {v['hostPath'].get('path')} must have type Directory (no create)")
        if owner["kind"] == "DaemonSet":
            if spec.get("hostPID"):
                problem(f"{ov}: {ident(owner)}: hostPID must stay off by default (see docs/deploying.md)")
            if spec.get("automountServiceAccountToken") is not False:
                problem(f"{ov}: {ident(owner)}: automountServiceAccountToken must be false")
        if args.expect_sidecar:
            if owner["kind"] != "Deployment" or len(spec.get("containers", [])) < 2:
                problem(f"{ov}: {ident(owner)}: expected the exporter as a sidecar in a Deployment")
            if spec.get("shareProcessNamespace") is not True:
                problem(f"{ov}: {ident(owner)}: the sidecar needs shareProcessNamespace: true for the lock probe")
            shared = {m["name"] for c in spec["containers"] if not is_exporter(c) for m in c.get("volumeMounts", [])}
            cache_mounts = [m for c in ex for m in c.get("volumeMounts", [])
                            if "persistentVolumeClaim" in vols.get(m["name"], {})]
            if not cache_mounts or not all(m["name"] in shared for m in cache_mounts):
                problem(f"{ov}: {ident(owner)}: the sidecar must mount the server's model PVC")
    if exporters == 0:
        problem(f"{ov}: no hf-cache-exporter container rendered")

    services = by_kind.get("Service", [])
    for s in services:
        sel = s["spec"].get("selector", {})
        hit = [p for p in pods if sel and all(p[0].get(k) == v for k, v in sel.items())]
        if not hit:
            problem(f"{ov}: {ident(s)}: selector {sel} matches no exporter pod")
        for port in s["spec"].get("ports", []):
            if hit and port.get("targetPort") not in hit[0][1]:
                problem(f"{ov}: {ident(s)}: targetPort {port.get('targetPort')!r} is not a named exporter port")
    scrapers = 0
    for pm in by_kind.get("PodMonitor", []):
        scrapers += 1
        hit = [p for p in pods if matches(pm["spec"]["selector"], p[0])]
        if not hit:
            problem(f"{ov}: {ident(pm)}: selector matches no exporter pod")
        for ep in pm["spec"]["podMetricsEndpoints"]:
            if hit and ep.get("port") not in hit[0][1]:
                problem(f"{ov}: {ident(pm)}: port {ep.get('port')!r} is not a named exporter port")
            job = [r for r in ep.get("relabelings", []) if r.get("targetLabel") == "job"]
            if not job or job[-1].get("replacement") != JOB:
                problem(f"{ov}: {ident(pm)}: must relabel job to {JOB!r} (the alert rules select it)")
            if ep.get("path", "/metrics") != "/metrics":
                problem(f"{ov}: {ident(pm)}: path must be /metrics")
    for sm in by_kind.get("ServiceMonitor", []):
        scrapers += 1
        hit = [s for s in services if matches(sm["spec"]["selector"], s["metadata"].get("labels", {}))]
        if not hit:
            problem(f"{ov}: {ident(sm)}: selector matches no Service")
        for ep in sm["spec"]["endpoints"]:
            if hit and ep.get("port") not in {p.get("name") for p in hit[0]["spec"]["ports"]}:
                problem(f"{ov}: {ident(sm)}: port {ep.get('port')!r} is not a port name of {ident(hit[0])}")
            if hit and hit[0]["metadata"]["name"] != JOB and not any(
                    r.get("targetLabel") == "job" for r in ep.get("relabelings", [])):
                problem(f"{ov}: {ident(sm)}: job would be {hit[0]['metadata']['name']!r}, rules select {JOB!r}")
    if scrapers != 1:
        problem(f"{ov}: expected exactly one PodMonitor or ServiceMonitor, got {scrapers}")

    rules_want = yaml.safe_load(Path(args.rules).read_text())
    prs = by_kind.get("PrometheusRule", [])
    if len(prs) != 1:
        problem(f"{ov}: expected exactly one PrometheusRule, got {len(prs)}")
    for pr in prs:
        if pr["spec"] != rules_want:
            problem(f"{ov}: {ident(pr)}: spec differs from {args.rules} (run deploy/prometheus/gen-prometheusrule.py)")
        if args.extract:
            (args.extract / f"{ov}.rules.yml").write_text(yaml.safe_dump(pr["spec"], sort_keys=False))

    for p in PROBLEMS:
        print(f"  - {p}", file=sys.stderr)
    if PROBLEMS:
        print(f"{ov}: {len(PROBLEMS)} problem(s)", file=sys.stderr)
        return 1
    print(f"{ov}: ok: {core} core objects valid for Kubernetes {' and '.join(K8S_VERSIONS)} (--strict), "
          f"{crds} prometheus-operator objects structurally valid, {exporters} exporter container(s) pass policy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
