#!/usr/bin/env python3
"""Static checks of the operations artefacts (alert rules, runbooks, dashboards).

    ops_lint.py rules RULES.yml TESTS.yml RUNBOOKS.md   alert conventions + runbook anchors + test coverage
    ops_lint.py dashboards DASH.json...                  structural lint of Grafana dashboards
    ops_lint.py queries DASH.json...                     every query as JSON lines (for ops_promql.py)
    ops_lint.py metric-names RULES.yml DASH.json...      metric names the rules and dashboards use

Needs PyYAML (the e2e venv has it). Exits 1 with one line per problem.
"""

import json
import re
import sys
from pathlib import Path

import yaml

PROBLEMS = []


def problem(msg):
    PROBLEMS.append(msg)


def finish(ok_msg):
    for p in PROBLEMS:
        print(f"  - {p}", file=sys.stderr)
    if PROBLEMS:
        print(f"{len(PROBLEMS)} problem(s)", file=sys.stderr)
        return 1
    print(ok_msg)
    return 0


# --- alert rules -------------------------------------------------------------------------------------------

def github_anchor(heading):
    """The anchor GitHub generates for a Markdown heading."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def parse_duration(d):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    total = 0.0
    for num, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", d):
        total += int(num) * units[unit]
    if not re.fullmatch(r"((\d+)(ms|s|m|h|d|w|y))+", d):
        raise ValueError(f"bad duration {d!r}")
    return total


def lint_rules(rules_path, tests_path, runbooks_path):
    rules = yaml.safe_load(Path(rules_path).read_text())
    runbooks = Path(runbooks_path).read_text()
    anchors = {github_anchor(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*$", runbooks, re.M)}
    alerts = {}
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            if "alert" not in rule:
                continue
            name = rule["alert"]
            where = f"{group['name']}/{name}"
            alerts.setdefault(name, []).append(rule)
            if not re.fullmatch(r"HfCache[A-Z][A-Za-z]+", name):
                problem(f"{where}: alert names are CamelCase and start with HfCache")
            sev = rule.get("labels", {}).get("severity")
            if sev not in ("critical", "warning", "info"):
                problem(f"{where}: severity label must be critical|warning|info, got {sev!r}")
            ann = rule.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not ann.get(key):
                    problem(f"{where}: missing annotation {key}")
            summary = ann.get("summary", "")
            if "{{" in summary or not summary.endswith("."):
                problem(f"{where}: summary must be a static sentence ending with a period")
            url = ann.get("runbook_url", "")
            m = re.fullmatch(r"https://\S+/docs/runbooks\.md#([\w-]+)", url)
            if not m:
                problem(f"{where}: runbook_url {url!r} does not point into docs/runbooks.md")
            elif m.group(1) not in anchors:
                problem(f"{where}: runbook_url anchor #{m.group(1)} is not a heading in {runbooks_path}")
            elif m.group(1) != name.lower():
                problem(f"{where}: runbook_url anchor should be #{name.lower()}")
            if "for" not in rule:
                problem(f"{where}: no `for:`; every alert waits a justified time")
            else:
                try:
                    parse_duration(rule["for"])
                except ValueError as e:
                    problem(f"{where}: {e}")
                # The runbook must state (and justify) the same `for:` value.
                section = runbook_section(runbooks, name)
                if section is None:
                    problem(f"{where}: docs/runbooks.md has no section '## {name}'")
                elif f"`for: {rule['for']}`" not in section:
                    problem(f"{where}: its runbook section does not mention `for: {rule['for']}`")
    if not alerts:
        problem(f"{rules_path}: no alerts")

    # Coverage of the promtool unit tests: every alert fires in one case and is checked silent in another.
    tests = yaml.safe_load(Path(tests_path).read_text())
    fired, silent = set(), set()
    for t in tests.get("tests", []):
        for case in t.get("alert_rule_test", []):
            (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    for name in alerts:
        if name not in fired:
            problem(f"{tests_path}: no test where {name} fires")
        if name not in silent:
            problem(f"{tests_path}: no test where {name} must not fire")
    for name in (fired | silent) - set(alerts):
        problem(f"{tests_path}: tests alert {name}, which rules.yml does not define")
    return finish(f"rules ok: {len(alerts)} alerts, each with a runbook, firing and silent tests")


def runbook_section(text, name):
    m = re.search(rf"^##\s+{re.escape(name)}\s*$(.*?)(?=^##\s|\Z)", text, re.M | re.S)
    return m.group(1) if m else None


# --- dashboards --------------------------------------------------------------------------------------------

DS_REF = {"type": "prometheus", "uid": "${datasource}"}
REQUIRED_VARS = ("datasource", "job", "instance", "cache", "model")


def all_panels(dash):
    for p in dash.get("panels", []):
        yield p
        for sub in p.get("panels", []) or []:
            yield sub


def metric_names(expr):
    """Metric names in a PromQL expression (identifiers not followed by '(' and not keywords/labels)."""
    keywords = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
                "offset", "bool", "inf", "nan",
                # aggregation operators, which may be followed by `by (...)` instead of "("
                "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile"}
    # Drop string literals and label matchers so label names and values are not taken for metrics.
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", "{}", e)
    e = re.sub(r"\[[^\]]*\]", "[]", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", e)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        word = m.group(0)
        rest = e[m.end():].lstrip()
        if rest.startswith("("):
            continue  # function or aggregation
        if word.lower() in keywords or word.startswith("$"):
            continue
        if m.start() > 0 and e[m.start() - 1] == "$":
            continue
        names.add(word)
    return names


def label_values_query(q):
    m = re.fullmatch(r"\s*label_values\((.*),\s*([a-zA-Z_]\w*)\s*\)\s*", q)
    return (m.group(1), m.group(2)) if m else None


def dashboard_queries(path):
    dash = json.loads(Path(path).read_text())
    out = []
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("definition") or (v.get("query") or {}).get("query")
            out.append({"dashboard": dash["uid"], "where": f"variable ${v['name']}", "kind": "variable",
                        "var": v["name"], "expr": q, "multi": bool(v.get("multi")),
                        "allValue": v.get("allValue")})
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            out.append({"dashboard": dash["uid"], "where": f"annotation {a['name']}", "kind": "annotation",
                        "expr": a["expr"]})
    for p in all_panels(dash):
        for t in p.get("targets", []) or []:
            out.append({"dashboard": dash["uid"], "where": f"panel {p['id']} '{p['title']}' {t.get('refId')}",
                        "kind": "instant" if t.get("instant") else "range", "expr": t.get("expr")})
    return out


def lint_dashboards(paths):
    uids = {}
    for path in paths:
        raw = Path(path).read_text()
        where = Path(path).name
        try:
            dash = json.loads(raw)
        except json.JSONDecodeError as e:
            problem(f"{where}: not JSON: {e}")
            continue
        if "${DS_" in raw or "__inputs" in dash:
            problem(f"{where}: uses ${{DS_...}} placeholders / __inputs; provisioning never resolves them")
        uid = dash.get("uid")
        if not uid or not re.fullmatch(r"[a-z0-9-]{1,40}", uid):
            problem(f"{where}: uid {uid!r} must be a stable, short, lowercase id")
        elif uid in uids:
            problem(f"{where}: uid {uid} also used by {uids[uid]}")
        uids[uid] = where
        if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
            problem(f"{where}: schemaVersion must be pinned to an int >= 36 (Grafana 10+)")
        if dash.get("id") is not None:
            problem(f"{where}: top-level id must be null (Grafana assigns it)")
        if not dash.get("title"):
            problem(f"{where}: no title")
        # Template variables.
        tvars = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
        for name in REQUIRED_VARS:
            if name not in tvars:
                problem(f"{where}: missing template variable ${name}")
        ds = tvars.get("datasource")
        if ds and (ds.get("type") != "datasource" or ds.get("query") != "prometheus"):
            problem(f"{where}: $datasource must be a datasource variable of type prometheus")
        for name, v in tvars.items():
            if v.get("type") == "query":
                if v.get("datasource") != DS_REF:
                    problem(f"{where}: variable ${name} datasource must be {DS_REF}")
                q = v.get("definition")
                if not q or not label_values_query(q):
                    problem(f"{where}: variable ${name} should be a label_values(...) query")
                elif (v.get("query") or {}).get("query") != q:
                    problem(f"{where}: variable ${name} definition and query differ")
                if v.get("includeAll") and v.get("allValue") != ".*":
                    problem(f"{where}: variable ${name} includes All; allValue must be '.*'")
        # ALERTS annotation.
        anns = dash.get("annotations", {}).get("list", [])
        if not any("ALERTS" in (a.get("expr") or "") and a.get("datasource") == DS_REF for a in anns):
            problem(f"{where}: no ALERTS annotation on ${{datasource}}")
        for a in anns:
            if a.get("builtIn"):
                continue
            if a.get("datasource") != DS_REF:
                problem(f"{where}: annotation {a.get('name')} datasource must be {DS_REF}")
        # The panel guide next to the dashboards (dashboards/README.md) must list every panel.
        guide_path = Path(path).parent / "README.md"
        guide = guide_path.read_text() if guide_path.exists() else None
        # Panels.
        ids = set()
        occupied = {}
        panels = list(all_panels(dash))
        if not panels:
            problem(f"{where}: no panels")
        for p in panels:
            pid = p.get("id")
            pw = f"{where}: panel {pid} '{p.get('title')}'"
            if not isinstance(pid, int):
                problem(f"{pw}: id must be an int")
            elif pid in ids:
                problem(f"{pw}: duplicate id")
            ids.add(pid)
            if not p.get("title"):
                problem(f"{pw}: no title")
            gp = p.get("gridPos") or {}
            if not all(isinstance(gp.get(k), int) for k in "hwxy"):
                problem(f"{pw}: gridPos needs integer h, w, x, y")
                continue
            if gp["w"] < 1 or gp["h"] < 1 or gp["x"] < 0 or gp["y"] < 0 or gp["x"] + gp["w"] > 24:
                problem(f"{pw}: gridPos {gp} is outside the 24-column grid")
            for x in range(gp["x"], min(gp["x"] + gp["w"], 24)):
                for y in range(gp["y"], gp["y"] + gp["h"]):
                    if (x, y) in occupied:
                        problem(f"{pw}: overlaps panel {occupied[(x, y)]} at ({x},{y})")
                        break
                    occupied[(x, y)] = pid
                else:
                    continue
                break
            if p.get("type") == "row":
                continue
            if guide is not None and f"| {p.get('title')} |" not in guide:
                problem(f"{pw}: not described in {guide_path}")
            if not p.get("description"):
                problem(f"{pw}: no description (the README's panel guide is built on them)")
            if p.get("datasource") != DS_REF:
                problem(f"{pw}: datasource must be {DS_REF}")
            targets = p.get("targets") or []
            if not targets:
                problem(f"{pw}: no targets")
            refids = [t.get("refId") for t in targets]
            if len(set(refids)) != len(refids) or not all(refids):
                problem(f"{pw}: refIds must be present and unique: {refids}")
            exprs = []
            for t in targets:
                if t.get("datasource") != DS_REF:
                    problem(f"{pw} {t.get('refId')}: target datasource must be {DS_REF}")
                if not t.get("expr"):
                    problem(f"{pw} {t.get('refId')}: no expr")
                else:
                    exprs.append(t["expr"])
                    for var in ("$job", "$instance"):
                        if "up{" not in t["expr"] and var not in t["expr"]:
                            problem(f"{pw} {t.get('refId')}: expr ignores {var}")
            unit = (p.get("fieldConfig") or {}).get("defaults", {}).get("unit")
            if not unit:
                problem(f"{pw}: no unit")
            names = set().union(*(metric_names(e) for e in exprs)) if exprs else set()
            divides = any("/" in e for e in exprs)
            per_second = any(re.search(r"\b(rate|irate|deriv)\(", e) for e in exprs)
            if per_second:
                if any(n.endswith("_bytes") for n in names) and unit != "binBps":
                    problem(f"{pw}: a rate of *_bytes metrics has unit 'binBps', not {unit!r}")
            elif any(n.endswith("_bytes") for n in names) and not divides and unit != "bytes":
                problem(f"{pw}: shows *_bytes metrics, so the unit must be 'bytes' (IEC), not {unit!r}")
            if any(n.endswith("_seconds") for n in names) and not divides and unit not in ("s", "Bps", "bytes"):
                problem(f"{pw}: shows *_seconds metrics, so the unit must be 's', not {unit!r}")
            if any(n.endswith("_ratio") for n in names) and unit != "percentunit":
                problem(f"{pw}: shows a *_ratio metric, so the unit must be 'percentunit', not {unit!r}")
    return finish(f"dashboards ok: {len(paths)} file(s)")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    if cmd == "rules" and len(args) == 3:
        return lint_rules(*args)
    if cmd == "dashboards" and args:
        return lint_dashboards(args)
    if cmd == "queries" and args:
        for path in args:
            for q in dashboard_queries(path):
                print(json.dumps(q))
        return 0
    if cmd == "metric-names" and len(args) >= 1:
        names = set()
        rules = yaml.safe_load(Path(args[0]).read_text())
        for g in rules["groups"]:
            for r in g["rules"]:
                names |= metric_names(r["expr"])
        for path in args[1:]:
            for q in dashboard_queries(path):
                expr = q["expr"]
                lv = label_values_query(expr)
                names |= metric_names(lv[0] if lv else expr)
        print("\n".join(sorted(names)))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
