#!/usr/bin/env python3
"""Differential check: hf-cache-exporter vs the real huggingface_hub client.

    client_diffcheck.py scan    --bin HFCE_BIN --caches DIR [--only hub,killed]
    client_diffcheck.py metrics --scan-json FILE --metrics FILE

`scan` runs `HFCE_BIN scan --json --cache.dir <cache>` on every cache built by
client_build_caches.py (DIR/manifest.json) and compares, per repo folder, with
what the client's scan_cache_dir() said (DIR/<cache>.scan.json) plus facts this
script reads from disk itself (os.lstat / os.readlink only):

  bytes            == client size_on_disk + temp-file bytes + orphan-blob bytes
                      (the contract counts every regular file under blobs/ and
                      snapshots/; the client only counts blobs reachable from a
                      snapshot, and never temp files)
  incomplete_files == the client's incomplete-file list for that folder
  incomplete_bytes == the sizes in that list
  revisions        == the client's revisions
  model/repo_type  == the client's repo_id/repo_type
  exists           == true
  expected_bytes   == sum of sizes in trees/<commit>.json (one-revision repos)
  progress         == 1.0 for complete one-revision repos, in (0, 1) with a
                      temp file

Repos the client drops as corrupted (e.g. the refs-only folder that
snapshot_download(local_dir=...) leaves) must still be reported: exists, bytes
== what is on disk (0 for a refs-only folder), revisions == snapshot folders.
The exporter must report exactly the folders the client scanned or dropped.

A negative control runs the same comparison on a copy of each exporter output
with deliberately wrong numbers and a missing repo; if that copy passes, the
checker is blind and `scan` exits 2.

`metrics` checks that every hf_cache_bytes sample of a /metrics scrape equals
`bytes` in a `scan --json` output of the same cache, and that there are no
extra or missing series.

Exit status 1 and a field-by-field diff on any mismatch.
"""

import argparse
import json
import math
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

TEMP_SUFFIXES = (".incomplete", ".part", ".sync.part")


# ---------------------------------------------------------------------------
# Independent on-disk facts for one repo folder
# ---------------------------------------------------------------------------

def first_hop(link):
    target = os.readlink(link)
    return os.path.normpath(target if os.path.isabs(target) else os.path.join(os.path.dirname(link), target))


def disk_facts(folder):
    """Temp files, orphan blobs and snapshot facts of a repo folder, from lstat/readlink."""
    folder = os.path.realpath(folder)
    facts = {"temp": [], "orphans": [], "referenced": set(), "snapshot_dirs": 0,
             "regular_bytes": 0, "has_blobs": os.path.isdir(os.path.join(folder, "blobs")),
             "has_snapshots": os.path.isdir(os.path.join(folder, "snapshots"))}
    snapshots = os.path.join(folder, "snapshots")
    if facts["has_snapshots"]:
        facts["snapshot_dirs"] = sum(1 for e in os.scandir(snapshots) if e.is_dir(follow_symlinks=False))
        for root, dirs, files in os.walk(snapshots):
            for name in dirs + files:
                path = os.path.join(root, name)
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    facts["referenced"].add(first_hop(path))
                elif stat.S_ISREG(st.st_mode):
                    facts["regular_bytes"] += st.st_size
    if facts["has_blobs"]:
        for entry in os.scandir(os.path.join(folder, "blobs")):
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                size = st.st_size
                facts["regular_bytes"] += size
                if entry.name.endswith(TEMP_SUFFIXES):
                    facts["temp"].append((entry.name, size))
                    continue
            elif stat.S_ISLNK(st.st_mode):  # 2.x shared-store pointer: its payload is the content
                try:
                    size = os.stat(entry.path).st_size
                except FileNotFoundError:
                    size = 0
            else:
                continue
            if os.path.normpath(entry.path) not in facts["referenced"]:
                facts["orphans"].append((entry.name, size))
    return facts


def trees_expected(folder):
    """{commit: total size} from the client's trees/<commit>.json files."""
    out = {}
    trees = Path(folder) / "trees"
    if trees.is_dir():
        for p in trees.glob("*.json"):
            data = json.loads(p.read_text())
            out[p.stem] = sum(f["size"] for f in data["files"].values())
    return out


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------

class Report:
    def __init__(self):
        self.rows = []
        self.failed = 0

    def check(self, cache, repo, field, got, want, note=""):
        ok = (math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
              if isinstance(got, (int, float)) and isinstance(want, (int, float))
              and not isinstance(got, bool) and not isinstance(want, bool) else got == want)
        self.rows.append((ok, cache, repo, field, got, want, note))
        if not ok:
            self.failed += 1
        return ok

    def check_true(self, cache, repo, field, cond, got, note):
        self.rows.append((bool(cond), cache, repo, field, got, note, ""))
        if not cond:
            self.failed += 1

    def info(self, cache, repo, field, got, want, note=""):
        self.rows.append((None, cache, repo, field, got, want, note))

    def print(self, verbose):
        for ok, cache, repo, field, got, want, note in self.rows:
            if ok is False or verbose:
                tag = {True: "ok      ", False: "MISMATCH", None: "info    "}[ok]
                extra = f"   [{note}]" if note else ""
                print(f"{tag} {cache:<10} {repo:<45} {field:<17} exporter={json.dumps(got)} "
                      f"expected={json.dumps(want)}{extra}")
        checks = sum(1 for r in self.rows if r[0] is not None)
        print(f"client_diffcheck: {checks - self.failed}/{checks} checks agree, {self.failed} mismatch(es)")


def run_exporter_scan(binary, cache_dir):
    proc = subprocess.run([binary, "scan", "--json", "--cache.dir", cache_dir],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"`{binary} scan --json --cache.dir {cache_dir}` exited {proc.returncode}:\n{proc.stderr}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as err:
        raise SystemExit(f"exporter scan output is not JSON ({err}):\n{proc.stdout[:2000]}")


def compare_cache(rep, name, cache_dir, client, exported, damaged=False):
    entries = [c for c in exported.get("caches", []) if c.get("path") == cache_dir]
    if not rep.check(name, "-", "cache entries", len(entries), 1, f"caches with path {cache_dir}"):
        return
    cache = entries[0]
    rep.check(name, "-", "exists", cache.get("exists"), True)
    if damaged:  # a hand-deleted blob may fairly count as a scan error
        rep.info(name, "-", "success", cache.get("success"), True, f"not checked, damaged cache; "
                 f"errors={json.dumps(cache.get('errors'))}")
    else:
        rep.check(name, "-", "success", cache.get("success"), True, f"errors={json.dumps(cache.get('errors'))}")
    by_folder = {r.get("folder"): r for r in cache.get("repos", [])}
    client_repos = {r["folder"]: r for r in client["repos"]}
    corrupted = {c["folder"]: c for c in client["corrupted"]}
    want_folders = sorted(set(client_repos) | set(corrupted))
    rep.check(name, "-", "repo folders", sorted(by_folder), want_folders,
              "scan_cache_dir repos + folders it dropped as corrupted")
    rep.check(name, "-", "repos_found", cache.get("repos_found"), len(want_folders))

    incomplete = {}
    for item in client["incomplete_files"]:
        incomplete.setdefault(item["folder"], []).append(item["size"])

    for folder in want_folders:
        got = by_folder.get(folder)
        if got is None:
            continue  # already reported by "repo folders"
        facts = disk_facts(os.path.join(cache_dir, folder))
        temp_bytes = sum(s for _, s in facts["temp"])
        orphan_bytes = sum(s for _, s in facts["orphans"])
        inc = incomplete.get(folder, [])
        rep.check(name, folder, "exists", got.get("exists"), True)
        rep.check(name, folder, "incomplete_files", got.get("incomplete_files"), len(inc),
                  f"client {client['incomplete_source']}")
        rep.check(name, folder, "incomplete_bytes", got.get("incomplete_bytes"), sum(inc),
                  f"client {client['incomplete_source']}")
        if folder in client_repos:
            c = client_repos[folder]
            rep.check(name, folder, "model", got.get("model"), c["repo_id"])
            rep.check(name, folder, "repo_type", got.get("repo_type"), c["repo_type"])
            rep.check(name, folder, "bytes", got.get("bytes"), c["size_on_disk"] + temp_bytes + orphan_bytes,
                      f"client size_on_disk {c['size_on_disk']} + temp {temp_bytes} "
                      f"({len(facts['temp'])} files) + orphan blobs {orphan_bytes} "
                      f"({', '.join(n[:12] for n, _ in facts['orphans']) or 'none'})")
            rep.check(name, folder, "revisions", got.get("revisions"), len(c["revisions"]),
                      "client revisions " + ", ".join(r["commit_hash"][:8] for r in c["revisions"]))
            rep.info(name, folder, "files", got.get("files"), c["nb_files"] + len(facts["orphans"]),
                     f"client nb_files {c['nb_files']} + {len(facts['orphans'])} orphan blobs (not checked: "
                     "the contract's 'content files' may count snapshot entries differently)")
            trees = trees_expected(os.path.join(cache_dir, folder))
            if len(c["revisions"]) == 1 and len(trees) == 1 and c["revisions"][0]["commit_hash"] in trees:
                rev = c["revisions"][0]
                rep.check(name, folder, "expected_bytes", got.get("expected_bytes"), trees[rev["commit_hash"]],
                          "sum of sizes in trees/<commit>.json")
                complete = not facts["temp"] and rev["size_on_disk"] == trees[rev["commit_hash"]]
                progress = got.get("progress")
                if complete:
                    rep.check(name, folder, "progress", progress, 1.0, "every tree file is in the snapshot")
                elif facts["temp"]:
                    rep.check_true(name, folder, "progress", isinstance(progress, (int, float))
                                   and 0 < progress < 1, progress, "strictly between 0 and 1 (temp file present)")
        else:
            warn = "; ".join(corrupted[folder]["warnings"]) or "no warning text matched"
            rep.check(name, folder, "bytes", got.get("bytes"), facts["regular_bytes"],
                      f"dropped by scan_cache_dir ({warn}); regular files under blobs/ + snapshots/")
            if not facts["has_blobs"] and not facts["has_snapshots"]:
                rep.check(name, folder, "bytes (refs-only)", got.get("bytes"), 0, "no blobs/ and no snapshots/")
            rep.check(name, folder, "revisions", got.get("revisions"), facts["snapshot_dirs"],
                      "snapshot folders on disk")


def perturb(exported):
    """A copy of an exporter output with known errors: one repo's bytes and
    incomplete_files off by one, and another repo missing."""
    bad = json.loads(json.dumps(exported))
    for cache in bad.get("caches", []):
        repos = cache.get("repos", [])
        if repos:
            repos[0]["bytes"] = (repos[0].get("bytes") or 0) + 1
            repos[0]["incomplete_files"] = (repos[0].get("incomplete_files") or 0) + 1
        if len(repos) > 1:
            repos.pop()
    return bad


def cmd_scan(args):
    caches_dir = Path(args.caches).resolve()
    manifest = json.loads((caches_dir / "manifest.json").read_text())
    wanted = args.only.split(",") if args.only else list(manifest["caches"])
    rep, control = Report(), Report()
    for name in wanted:
        entry = manifest["caches"].get(name)
        if entry is None:
            raise SystemExit(f"cache {name!r} is not in {caches_dir / 'manifest.json'}")
        client = json.loads(Path(entry["scan"]).read_text())
        exported = run_exporter_scan(args.bin, entry["path"])
        if args.save:
            Path(args.save, f"{name}.exporter.json").write_text(json.dumps(exported, indent=1) + "\n")
        compare_cache(rep, name, entry["path"], client, exported, entry.get("damaged", False))
        # Negative control: the same comparison must catch deliberately wrong numbers.
        before = control.failed
        compare_cache(control, name, entry["path"], client, perturb(exported), entry.get("damaged", False))
        repos = len(exported["caches"][0]["repos"]) if exported.get("caches") else 0
        expected = (2 if repos else 0) + (1 if repos > 1 else 0)  # bytes, incomplete_files, missing folder
        if control.failed - before < expected:
            print(f"client_diffcheck: negative control for {name}: only {control.failed - before} mismatch(es) "
                  "found in a deliberately wrong output; the checker is blind", file=sys.stderr)
            return 2
    rep.print(args.verbose)
    print(f"client_diffcheck: negative control: {control.failed} mismatch(es) caught in deliberately wrong outputs")
    return 1 if rep.failed else 0


# ---------------------------------------------------------------------------
# /metrics vs scan --json
# ---------------------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def parse_exposition(text):
    """[(name, {label: value}, float)] from Prometheus text or OpenMetrics."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise SystemExit(f"unparsable exposition line: {line!r}")
        labels, rest = {}, m.group(2) or ""
        pos = 0
        while pos < len(rest):
            lm = LABEL.match(rest, pos)
            if not lm:
                raise SystemExit(f"unparsable labels in: {line!r}")
            value = re.sub(r'\\(.)', lambda x: {"n": "\n"}.get(x.group(1), x.group(1)), lm.group(2))
            labels[lm.group(1)] = value
            pos = lm.end()
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def cmd_metrics(args):
    scan = json.loads(Path(args.scan_json).read_text())
    samples = [s for s in parse_exposition(Path(args.metrics).read_text()) if s[0] == "hf_cache_bytes"]
    rep = Report()
    for cache in scan["caches"]:
        mine = {(l.get("model"), l.get("repo_type")): v for n, l, v in samples if l.get("cache") == cache["cache"]}
        want = {(r["model"], r["repo_type"]): r["bytes"] for r in cache["repos"]}
        rep.check(cache["cache"], "-", "series", sorted(map(list, mine)), sorted(map(list, want)),
                  "hf_cache_bytes{model,repo_type} in /metrics vs repos in scan --json")
        for key, value in sorted(want.items()):
            if key in mine:
                rep.check(cache["cache"], f"{key[1]}:{key[0]}", "hf_cache_bytes", mine[key], value,
                          "scan --json bytes")
    other = sorted({l.get("cache") for _, l, _ in samples} - {c["cache"] for c in scan["caches"]})
    rep.check("-", "-", "other caches", other, [], "hf_cache_bytes series for caches not in scan --json")
    rep.print(args.verbose)
    return 1 if rep.failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scan", help="exporter `scan --json` vs scan_cache_dir, per cache")
    s.add_argument("--bin", required=True, help="hf-cache-exporter binary")
    s.add_argument("--caches", required=True, help="--out directory of client_build_caches.py")
    s.add_argument("--only", help="comma-separated cache names")
    s.add_argument("--save", help="directory to save each exporter output in")
    s.add_argument("-v", "--verbose", action="store_true", help="print agreeing checks too")
    m = sub.add_parser("metrics", help="/metrics hf_cache_bytes vs scan --json")
    m.add_argument("--scan-json", required=True)
    m.add_argument("--metrics", required=True)
    m.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    return cmd_scan(args) if args.cmd == "scan" else cmd_metrics(args)


if __name__ == "__main__":
    sys.exit(main())
