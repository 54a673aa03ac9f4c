#!/usr/bin/env python3
"""Run every dashboard query against a live Prometheus, as Grafana would, and check the answers.

    ops_promql.py --prom URL [--prefer VAR=VALUE ...] [--require-nonempty] DASH.json...

Template variables are resolved in dashboard order exactly like Grafana does it: each `label_values(sel, label)`
variable query is sent to /api/v1/label/<label>/values with the variables before it substituted; a multi-value or
"All" variable then becomes its allValue (".*"), a single-value one becomes its --prefer value if that is among the
answers (else the first answer). Panel targets are run as range queries over the last 5 minutes (instant targets
as instant queries); `$__rate_interval` becomes 1m. Every query must succeed; with --require-nonempty every query
(variables included) must also return at least one series. Standard library only.
"""

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}


def api(prom, path, params):
    url = f"{prom}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=15) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as err:
        body = json.loads(err.read() or b"{}")
    if body.get("status") != "success":
        raise RuntimeError(f"{body.get('errorType')}: {body.get('error')}")
    return body["data"]


def substitute(expr, values):
    def repl(m):
        name = m.group(1) or m.group(2)
        if name in values:
            return values[name]
        if name in GRAFANA_BUILTINS:
            return GRAFANA_BUILTINS[name]
        raise KeyError(f"unknown variable ${name} in {expr!r}")
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prom", required=True)
    ap.add_argument("--prefer", action="append", default=[], help="VAR=VALUE for single-value variables")
    ap.add_argument("--require-nonempty", action="store_true")
    ap.add_argument("dashboards", nargs="+")
    args = ap.parse_args()
    prefer = dict(p.split("=", 1) for p in args.prefer)

    queries = subprocess.run([sys.executable, str(HERE / "ops_lint.py"), "queries", *args.dashboards],
                             check=True, capture_output=True, text=True).stdout
    by_dash = {}
    for line in queries.splitlines():
        q = json.loads(line)
        by_dash.setdefault(q["dashboard"], []).append(q)

    failures = 0
    total = 0
    now = time.time()
    for uid, qs in by_dash.items():
        values = {}
        for q in qs:
            total += 1
            where = f"{uid}: {q['where']}"
            try:
                if q["kind"] == "variable":
                    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q["expr"])
                    sel = substitute(m.group(1), values)
                    got = api(args.prom, f"/api/v1/label/{m.group(2)}/values",
                              {"match[]": sel, "start": now - 300, "end": now})
                    if q["multi"] or q["allValue"]:
                        values[q["var"]] = q["allValue"] or ".*"
                    elif got:
                        values[q["var"]] = prefer[q["var"]] if prefer.get(q["var"]) in got else got[0]
                    n = len(got)
                    shown = f"label_values({sel}, {m.group(2)}) -> {got[:6]}{' ...' if n > 6 else ''}"
                    if q["var"] in values:
                        shown += f"; ${q['var']} = {values[q['var']]!r}"
                else:
                    expr = substitute(q["expr"], values)
                    if q["kind"] == "instant":
                        got = api(args.prom, "/api/v1/query", {"query": expr, "time": now})["result"]
                    else:
                        got = api(args.prom, "/api/v1/query_range",
                                  {"query": expr, "start": now - 300, "end": now, "step": 5})["result"]
                    n = len(got)
                    shown = f"{expr} -> {n} series"
            except (RuntimeError, KeyError, AttributeError) as err:
                print(f"FAIL {where}: {err}", file=sys.stderr)
                failures += 1
                continue
            if args.require_nonempty and n == 0:
                print(f"FAIL {where}: empty result: {shown}", file=sys.stderr)
                failures += 1
            else:
                print(f"ok   {where}: {shown}")
    print(f"{total - failures}/{total} dashboard queries ok")
    return 1 if failures or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
