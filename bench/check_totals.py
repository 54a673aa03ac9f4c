#!/usr/bin/env python3
"""Compare the exporter's `scan --json` output with the totals bench/gen_cache.py expected.

    check_totals.py EXPECTED.json SCAN.json

Every per-repo figure of expected.json must match exactly (floats: to 1e-9 relative), every repo folder must be
present on both sides, and the root facts (exists, repos_found, repos_dropped, success, errors) and the sums over
repos must agree. Prints one line per difference and exits 1 if there is any; prints a one-line summary and exits
0 otherwise.
"""

import json
import math
import sys

FLOAT_FIELDS = {"last_modified", "progress"}


def same(field, want, got):
    if want is None or got is None:
        return want is None and got is None
    if field in FLOAT_FIELDS:
        return isinstance(got, (int, float)) and math.isclose(want, got, rel_tol=1e-9, abs_tol=1e-9)
    return type(want) is type(got) and want == got


def compare(expected, scan):
    """Differences as human-readable lines (empty when everything matches)."""
    diffs = []
    caches = scan.get("caches", [])
    if len(caches) != 1:
        return [f"scan has {len(caches)} caches, expected exactly 1 (run with one --cache.dir)"]
    cache = caches[0]
    root = expected["root"]
    for field in ("exists", "repos_found", "repos_dropped", "success", "errors"):
        if not same(field, root[field], cache.get(field)):
            diffs.append(f"root {field}: expected {root[field]!r}, scan says {cache.get(field)!r}")
    got = {r["folder"]: r for r in cache.get("repos", [])}
    want = expected["repos"]
    for folder in sorted(set(want) - set(got)):
        diffs.append(f"{folder}: missing from the scan")
    for folder in sorted(set(got) - set(want)):
        diffs.append(f"{folder}: in the scan but not generated")
    for folder in sorted(set(want) & set(got)):
        for field, value in sorted(want[folder].items()):
            if not same(field, value, got[folder].get(field)):
                diffs.append(f"{folder}: {field}: expected {value!r}, scan says {got[folder].get(field)!r}")
    for field, value in sorted(root.items()):
        if field in ("exists", "repos_found", "repos_dropped", "success", "errors"):
            continue
        total = sum(r.get(field) or 0 for r in got.values())
        if total != value:
            diffs.append(f"root sum of {field}: expected {value}, scan says {total}")
    return diffs


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        expected = json.load(f)
    with open(argv[2]) as f:
        scan = json.load(f)
    diffs = compare(expected, scan)
    if diffs:
        print(f"check_totals: {len(diffs)} difference(s) between {argv[1]} and {argv[2]}:")
        for line in diffs[:200]:
            print(f"  {line}")
        if len(diffs) > 200:
            print(f"  ... and {len(diffs) - 200} more")
        return 1
    root = expected["root"]
    print(f"check_totals: ok: {len(expected['repos'])} repos, {root['bytes']} bytes, {root['files']} files, "
          f"{root['incomplete_files']} temp files match")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
