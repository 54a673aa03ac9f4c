#!/usr/bin/env python3
"""Build HF hub caches with the REAL huggingface_hub client against the fake hub.

Run it with the e2e venv's python (it needs `huggingface_hub`):

    $E2E_VENV/bin/python tests/e2e/client_build_caches.py --out DIR [--hub-url URL] [--only hub,killed]

Every download runs in its own subprocess (`--worker`), because huggingface_hub
reads HF_ENDPOINT / HF_HUB_CACHE / HF_HUB_DISABLE_SYMLINKS once, at import.
Without --hub-url the script starts tests/fakehub/fake_hub.py itself.

Caches written (each one a hub cache root, i.e. what HF_HUB_CACHE points at):

  DIR/hub        models (branch + tag + refs/pr/1, a blob shared by revisions,
                 nested paths), a legacy id, a dataset (+ refs/convert/parquet),
                 a space, a kernel, `.no_exist` entries, `trees/`
  DIR/nosymlink  the same downloads with HF_HUB_DISABLE_SYMLINKS=1 (skipped by
                 clients without that switch, e.g. 0.36)
  DIR/killed     a complete repo, plus the big file downloaded throttled and
                 SIGKILLed mid-file (a `.incomplete` temp file stays behind)
  DIR/localdir   the hub cache after snapshot_download(local_dir=DIR/localdir-target):
                 a refs-only repo folder that scan_cache_dir drops as corrupted
  DIR/rmhalf     two revisions, then the client's own delete strategy for one of
                 them run without its blob step (an interrupted `hf cache rm`):
                 leaves orphan blobs that no snapshot references
  DIR/shared     two repos with the same LFS weights, their LFS blobs then moved
                 into the 2.x cache-wide store (blobs/<xx>/<hash>) by the client's
                 own publish_blob_to_shared_store, as a Xet download would do
                 (skipped with huggingface_hub < 1.32, which has no shared store)
  DIR/broken     complete downloads, then one blob deleted by hand (what a partial
                 rsync or a careless cleanup leaves): scan_cache_dir drops the
                 whole repo ("Blob missing"); the exporter must keep counting it

For each cache, DIR/<name>.scan.json holds what the client's scan_cache_dir()
says (repos, revisions, warnings, corrupted folders) plus its list of
incomplete files; DIR/manifest.json lists the caches.
"""

import argparse
import dataclasses
import glob
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAKE_HUB = HERE.parent / "fakehub" / "fake_hub.py"

TINY = "acme-org/tiny-model.v1_0"
FORK = "acme-org/tiny-model-fork"  # same LFS weights as TINY
BIG = "acme-org/big-model"
CACHES = ("hub", "nosymlink", "killed", "localdir", "rmhalf", "shared", "broken")


# build_killed kills the big download once its weights' temp file holds at least this much.
MIN_KILLED_BYTES = 1024 * 1024


def _size(path):
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def log(msg):
    print(f"client_build_caches: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Worker side: runs in a fresh interpreter with the environment already set.
# ---------------------------------------------------------------------------

def worker(op):
    import huggingface_hub as hh
    from huggingface_hub import hf_hub_download, scan_cache_dir, snapshot_download

    kind = op["op"]
    if kind == "snapshot":
        kw = {k: op[k] for k in ("repo_type", "revision", "local_dir", "allow_patterns") if op.get(k)}
        path = snapshot_download(op["repo_id"], **kw)
        print(json.dumps({"path": path}))
    elif kind == "file":
        kw = {k: op[k] for k in ("repo_type", "revision") if op.get(k)}
        try:
            path = hf_hub_download(op["repo_id"], op["filename"], **kw)
        except getattr(hh.errors, "RemoteEntryNotFoundError", hh.errors.EntryNotFoundError) as err:
            if not op.get("expect_missing"):
                raise
            print(json.dumps({"missing": type(err).__name__}))
            return
        if op.get("expect_missing"):
            raise SystemExit(f"expected {op['filename']} to be missing, got {path}")
        print(json.dumps({"path": path}))
    elif kind == "rm_revision_without_blobs":
        info = scan_cache_dir(op["cache_dir"])
        strategy = info.delete_revisions(op["commit"])
        if not strategy.blobs:
            raise SystemExit("delete strategy frees no blob: nothing would be orphaned")
        # What an `hf cache rm` interrupted before its blob step leaves behind.
        partial = dataclasses.replace(strategy, blobs=frozenset())
        partial.execute()
        print(json.dumps({"orphaned": sorted(str(b) for b in strategy.blobs)}))
    elif kind == "publish_shared":
        # What a Xet download does after the rename (file_download.py, >= 1.32): move the blob
        # into <cache>/blobs/<xx>/<xet hash> and leave a symlink in the repo's blobs/.
        from huggingface_hub.utils import _shared_blobs
        import hashlib

        published = []
        for blob in sorted(Path(op["cache_dir"]).glob("*--*/blobs/*")):
            if len(blob.name) != 64 or blob.is_symlink():
                continue  # only LFS/Xet blobs (sha256 etags) go to the store
            # A stand-in for the Xet hash: 64 hex, equal for equal content.
            xet_hash = hashlib.sha256(b"xet:" + blob.name.encode()).hexdigest()
            ok = _shared_blobs.publish_blob_to_shared_store(
                blob_path=str(blob), xet_hash=xet_hash, cache_dir=op["cache_dir"],
                expected_size=blob.stat().st_size)
            if not ok:
                raise SystemExit(f"publish_blob_to_shared_store refused {blob}")
            published.append(str(blob))
        print(json.dumps({"published": published}))
    elif kind == "capabilities":
        try:
            from huggingface_hub.utils import _shared_blobs
        except ImportError:
            _shared_blobs = None
        print(json.dumps({
            "version": hh.__version__,
            "kernel": "kernel" in getattr(hh.constants, "REPO_TYPES_WITH_KERNEL", hh.constants.REPO_TYPES),
            "shared_store": hasattr(_shared_blobs, "publish_blob_to_shared_store"),
            "disable_symlinks": hasattr(hh.constants, "HF_HUB_DISABLE_SYMLINKS"),
        }))
    elif kind == "scan":
        print(json.dumps(dump_scan(op["cache_dir"])))
    else:
        raise SystemExit(f"unknown op {kind}")


def dump_scan(cache_dir):
    """The client's view of one cache, as plain JSON."""
    import huggingface_hub as hh
    from huggingface_hub import scan_cache_dir

    cache = Path(cache_dir)
    info = scan_cache_dir(cache)
    repos = []
    for r in sorted(info.repos, key=lambda r: (r.repo_type, r.repo_id)):
        repos.append({
            "repo_id": r.repo_id,
            "repo_type": r.repo_type,
            "folder": r.repo_path.name,
            "size_on_disk": r.size_on_disk,
            "nb_files": r.nb_files,
            "refs": {ref: rev.commit_hash for ref, rev in r.refs.items()},
            "revisions": [{
                "commit_hash": rev.commit_hash,
                "size_on_disk": rev.size_on_disk,
                "nb_files": rev.nb_files,
                "refs": sorted(rev.refs),
                "files": sorted(({"file_name": str(fi.file_path.relative_to(rev.snapshot_path)),
                                  "blob_path": str(fi.blob_path), "size_on_disk": fi.size_on_disk}
                                 for fi in rev.files), key=lambda x: x["file_name"]),
            } for rev in sorted(r.revisions, key=lambda x: x.commit_hash)],
        })
    # Incomplete downloads as the client lists them (HFCacheInfo.incomplete_files since 1.22).
    if hasattr(info, "incomplete_files"):
        source = "HFCacheInfo.incomplete_files"
        incomplete = [(Path(i.file_path), i.size_on_disk) for i in info.incomplete_files]
    else:
        source = "glob */blobs/*.incomplete"
        incomplete = [(Path(p), os.stat(p).st_size) for p in glob.glob(str(cache / "*/blobs/*.incomplete"))]
    resolved = cache.resolve()
    incomplete_files = sorted(({"folder": p.resolve().relative_to(resolved).parts[0],
                                "path": str(p), "size": size} for p, size in incomplete),
                              key=lambda x: x["path"])
    # Folders scan_cache_dir dropped (CorruptedCacheException): every top-level entry it
    # would have tried to read as a repo, minus the repos it returned.
    ignored = {".locks", "CACHEDIR.TAG", ".DS_Store", "Thumbs.db", "desktop.ini"}
    scanned = {r["folder"] for r in repos}
    warnings = [str(w) for w in info.warnings]
    corrupted = []
    for entry in sorted(resolved.iterdir()):
        if entry.name in ignored or entry.name in scanned:
            continue
        if entry.name == "blobs" and (entry / ".huggingface-shared-blobs").exists():
            continue
        msgs = [w for w in warnings if str(entry) in w]
        corrupted.append({"folder": entry.name, "warnings": msgs})
    return {
        "huggingface_hub": hh.__version__,
        "cache_dir": str(cache),
        "resolved_cache_dir": str(resolved),
        "size_on_disk": info.size_on_disk,
        "repos": repos,
        "warnings": warnings,
        "corrupted": corrupted,
        "incomplete_source": source,
        "incomplete_files": incomplete_files,
    }


# ---------------------------------------------------------------------------
# Driver side
# ---------------------------------------------------------------------------

class Builder:
    def __init__(self, out, hub_url):
        self.out = out
        self.hub_url = hub_url.rstrip("/")
        self.caps = self.run("capabilities", {"op": "capabilities"})
        log(f"huggingface_hub {self.caps['version']}: kernel repos {self.caps['kernel']}, "
            f"shared blob store {self.caps['shared_store']}")

    def env(self, cache, **extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HF_", "HUGGINGFACE_")) and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        env.update({
            "HF_ENDPOINT": self.hub_url,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HOME": str(self.out / "homes" / cache),
            "HF_HUB_CACHE": str(self.out / cache),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
            "HF_HUB_DISABLE_SYMLINKS_WARNING": "1",
            "HF_HUB_DOWNLOAD_TIMEOUT": "60",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        })
        env.update(extra)
        return env

    def cmd(self, op):
        return [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(op)]

    def run(self, cache, op, **extra_env):
        log(f"[{cache}] {json.dumps(op)}")
        proc = subprocess.run(self.cmd(op), env=self.env(cache, **extra_env),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"worker failed ({proc.returncode}) for {op}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def control(self, action, **params):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        req = urllib.request.Request(f"{self.hub_url}/_control/{action}?{query}", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    # -- the caches --------------------------------------------------------

    def full_set(self, cache, **env):
        """Every repo type, revision kind and negative-cache entry."""
        self.run(cache, {"op": "snapshot", "repo_id": TINY}, **env)
        self.run(cache, {"op": "snapshot", "repo_id": TINY, "revision": "v1.0"}, **env)
        self.run(cache, {"op": "snapshot", "repo_id": TINY, "revision": "refs/pr/1"}, **env)
        self.run(cache, {"op": "file", "repo_id": TINY, "filename": "missing.txt", "expect_missing": True}, **env)
        self.run(cache, {"op": "file", "repo_id": TINY, "filename": "tokenizer/sub/missing.json",
                         "revision": "v1.0", "expect_missing": True}, **env)
        self.run(cache, {"op": "snapshot", "repo_id": "gpt2"}, **env)
        self.run(cache, {"op": "snapshot", "repo_id": "acme-org/data", "repo_type": "dataset"}, **env)
        self.run(cache, {"op": "snapshot", "repo_id": "acme-org/data", "repo_type": "dataset",
                         "revision": "refs/convert/parquet"}, **env)
        self.run(cache, {"op": "snapshot", "repo_id": "acme-org/demo", "repo_type": "space"}, **env)
        if self.caps["kernel"]:
            self.run(cache, {"op": "snapshot", "repo_id": "acme-org/activation", "repo_type": "kernel"}, **env)
        else:
            log(f"[{cache}] huggingface_hub {self.caps['version']} has no kernel repos: skipped")
        # A file of a repo fetched by hf_hub_download only (no trees/, no snapshot_download).
        self.run(cache, {"op": "file", "repo_id": "gpt2", "filename": "vocab.json"}, **env)

    def build_hub(self):
        self.full_set("hub")

    def build_nosymlink(self):
        if not self.caps["disable_symlinks"]:
            log(f"[nosymlink] huggingface_hub {self.caps['version']} has no HF_HUB_DISABLE_SYMLINKS: skipped")
            return False
        self.full_set("nosymlink", HF_HUB_DISABLE_SYMLINKS="1")
        # The point of this cache: content lives as real files in snapshots/, blobs/ is empty.
        for folder in (self.out / "nosymlink").glob("*--*"):
            entries = [p for p in folder.glob("snapshots/*/**/*") if not p.is_dir()]
            if not entries or any(p.is_symlink() for p in entries) or any((folder / "blobs").iterdir()):
                raise SystemExit(f"{folder}: expected real files in snapshots/ and an empty blobs/ "
                                 "with HF_HUB_DISABLE_SYMLINKS=1; the client changed behaviour")

    def build_killed(self, bps=4 * 1024 * 1024, timeout=60):
        self.run("killed", {"op": "snapshot", "repo_id": "gpt2"})
        op = {"op": "snapshot", "repo_id": BIG}
        log(f"[killed] {json.dumps(op)} at {bps} B/s, SIGKILL once the weights temp file has {MIN_KILLED_BYTES} bytes")
        folder = self.out / "killed" / ("models--" + BIG.replace("/", "--"))
        self.control("throttle", bps=bps)
        proc = subprocess.Popen(self.cmd(op), env=self.env("killed"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                # The weights' temp file, not the small config's (which may be in flight at the same
                # time and would leave a second .incomplete behind); a temp file may also be
                # renamed between the glob and its stat.
                temps = [p for p in folder.glob("blobs/*.incomplete") if _size(p) >= MIN_KILLED_BYTES]
                if temps:
                    break
                if proc.poll() is not None:
                    raise SystemExit(f"download ended ({proc.returncode}) before it could be killed:\n"
                                     f"{proc.stderr.read()}")
                if time.monotonic() > deadline:
                    raise SystemExit("no growing .incomplete file appeared")
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            log(f"[killed] killed pid {proc.pid} with {temps[0].name} at {_size(temps[0])} bytes")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            self.control("throttle", bps=0)

    def build_localdir(self):
        target = self.out / "localdir-target"
        self.run("localdir", {"op": "snapshot", "repo_id": TINY, "local_dir": str(target)})
        folder = self.out / "localdir" / ("models--" + TINY.replace("/", "--"))
        if not (folder / "refs" / "main").is_file() or (folder / "snapshots").exists():
            raise SystemExit(f"expected a refs-only folder at {folder}; the client changed behaviour")

    def build_rmhalf(self):
        self.run("rmhalf", {"op": "snapshot", "repo_id": TINY})
        self.run("rmhalf", {"op": "snapshot", "repo_id": TINY, "revision": "v1.0"})
        self.run("rmhalf", {"op": "snapshot", "repo_id": "gpt2"})
        folder = self.out / "rmhalf" / ("models--" + TINY.replace("/", "--"))
        commit = (folder / "refs" / "v1.0").read_text()
        self.run("rmhalf", {"op": "rm_revision_without_blobs", "cache_dir": str(self.out / "rmhalf"),
                            "commit": commit})

    def build_shared(self):
        if not self.caps["shared_store"]:
            log("[shared] this huggingface_hub has no shared blob store (< 1.32): skipped")
            return False
        self.run("shared", {"op": "snapshot", "repo_id": TINY})
        self.run("shared", {"op": "snapshot", "repo_id": FORK})
        self.run("shared", {"op": "snapshot", "repo_id": "gpt2"})
        result = self.run("shared", {"op": "publish_shared", "cache_dir": str(self.out / "shared")})
        if len(result["published"]) < 3:
            raise SystemExit(f"expected >= 3 LFS blobs to publish, got {result['published']}")
        if not (self.out / "shared" / "blobs" / ".huggingface-shared-blobs").is_file():
            raise SystemExit("no shared store marker after publishing; the client changed behaviour")

    def build_broken(self):
        self.run("broken", {"op": "snapshot", "repo_id": TINY})
        self.run("broken", {"op": "snapshot", "repo_id": "gpt2"})
        link = self.out / "broken" / ("models--" + TINY.replace("/", "--")) / "snapshots"
        link = next(link.glob("*/tokenizer/sub/tokenizer.json"))
        blob = link.resolve()
        log(f"[broken] deleting {blob.name} (target of {link.name}) by hand")
        blob.unlink()

    def scan(self, cache):
        result = self.run(cache, {"op": "scan", "cache_dir": str(self.out / cache)})
        path = self.out / f"{cache}.scan.json"
        path.write_text(json.dumps(result, indent=1) + "\n")
        return result


def start_hub(out):
    port_file = out / "fakehub.port"
    port_file.unlink(missing_ok=True)
    log_file = open(out / "fakehub.out", "w")
    proc = subprocess.Popen([sys.executable, str(FAKE_HUB), "--port-file", str(port_file),
                             "--log", str(out / "fakehub.requests.jsonl")],
                            stdout=log_file, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"fake hub did not start, see {out / 'fakehub.out'}")
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port_file.read_text().strip()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="directory to create the caches in")
    ap.add_argument("--hub-url", help="use this fake hub instead of starting one")
    ap.add_argument("--only", help=f"comma-separated subset of {','.join(CACHES)}")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    if not args.out:
        ap.error("--out is required")

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    wanted = args.only.split(",") if args.only else list(CACHES)
    unknown = set(wanted) - set(CACHES)
    if unknown:
        ap.error(f"unknown cache(s): {', '.join(sorted(unknown))}")
    for cache in wanted:
        if (out / cache).exists():
            raise SystemExit(f"{out / cache} already exists; use an empty --out")

    hub = None
    hub_url = args.hub_url
    if not hub_url:
        hub, hub_url = start_hub(out)
    try:
        builder = Builder(out, hub_url)
        manifest = {"hub_url": hub_url, "huggingface_hub": builder.caps["version"], "caches": {}}
        for cache in wanted:
            if getattr(builder, f"build_{cache}")() is False:
                continue
            result = builder.scan(cache)
            manifest["caches"][cache] = {"path": str(out / cache), "scan": str(out / f"{cache}.scan.json"),
                                         "repos": len(result["repos"]),
                                         "corrupted": [c["folder"] for c in result["corrupted"]],
                                         "incomplete_files": len(result["incomplete_files"]),
                                         # damaged by hand: whether that is a scan error is the exporter's call
                                         "damaged": cache == "broken"}
            log(f"[{cache}] scan_cache_dir: {len(result['repos'])} repos, "
                f"{len(result['corrupted'])} corrupted, {len(result['incomplete_files'])} incomplete")
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    finally:
        if hub is not None:
            hub.terminate()
            try:
                hub.wait(timeout=10)
            except subprocess.TimeoutExpired:
                hub.kill()
                hub.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
