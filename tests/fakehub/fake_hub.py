#!/usr/bin/env python3
"""A fake Hugging Face Hub for the end-to-end tests (stdlib only).

It serves exactly what `huggingface_hub` 2.x calls for `snapshot_download` and
`hf_hub_download` when `HF_HUB_DISABLE_XET=1` (see docs/hf-cache.md §10):

  GET  /api/{models,datasets,spaces,kernels}/<repo_id>[/revision/<rev>]
  GET  /api/<type>s/<repo_id>/tree/<rev>[/<path>]?recursive=true&cursor=N
  HEAD /[datasets/|spaces/|kernels/]<repo_id>/resolve/<rev>/<path>
  GET  (same)                 small files: 200 + body; LFS files: 302 to the CDN
  HEAD/GET /_cdn/<sha256>     LFS payloads, on a DIFFERENT host name so the
                              client stops at the redirect like with the real CDN

Every body honours `Range` (206 + Content-Range) and the transfer controls:

  POST /_control/throttle?bps=N        limit each body to N bytes/s (0 = off)
  POST /_control/pause[?after_bytes=N] block transfers mid-body (at once, or as
                                       soon as one body has sent N bytes)
  POST /_control/resume                let blocked transfers continue
  GET  /_control/status                throttle, pause state, live transfers
  GET  /_control/requests              the request log (also --log FILE, JSON lines)
  GET  /_control/spec                  repos, commits, refs, files, sizes, hashes

Repos are defined below; file contents are generated from seeds, so nothing
big lives in git and every run serves byte-identical files.
"""

import argparse
import hashlib
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

MiB = 1024 * 1024
LFS_THRESHOLD = 100_000  # files at least this big are served as LFS (302 to the CDN)
REPO_TYPES = ("model", "dataset", "space", "kernel")
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/", "kernel": "kernels/"}


# ---------------------------------------------------------------------------
# Repository definitions
# ---------------------------------------------------------------------------

def f(seed, size):
    """A file spec: content generated from `seed`, `size` bytes long."""
    return {"seed": seed, "size": size}


TINY_V1 = {
    "config.json": f("tiny/config/v1", 120),
    "model.safetensors": f("tiny/weights", 3 * MiB),  # shared by all three commits
    "tokenizer/sub/tokenizer.json": f("tiny/tokenizer", 333),
    "README.md": f("tiny/readme/v1", 64),
}
TINY_MAIN = {
    **TINY_V1,
    "config.json": f("tiny/config/v2", 130),
    "generation_config.json": f("tiny/genconfig", 52),
}
TINY_PR1 = {**TINY_MAIN, "README.md": f("tiny/readme/pr1", 71)}

# (repo_type, repo_id) -> {"commits": {name: {path: spec}}, "refs": {ref: commit name}}
REPOS = {
    ("model", "acme-org/tiny-model.v1_0"): {
        "commits": {"v1": TINY_V1, "main": TINY_MAIN, "pr1": TINY_PR1},
        "refs": {"main": "main", "v1.0": "v1", "refs/pr/1": "pr1"},
    },
    ("model", "acme-org/tiny-model-fork"): {  # same weights as tiny-model: cross-repo dedup
        "commits": {"main": {
            "config.json": f("fork/config", 140),
            "model.safetensors": TINY_V1["model.safetensors"],
        }},
        "refs": {"main": "main"},
    },
    ("model", "gpt2"): {
        "commits": {"main": {
            "config.json": f("gpt2/config", 665),
            "vocab.json": f("gpt2/vocab", 4096),
            "model.safetensors": f("gpt2/weights", 1536 * 1024),
        }},
        "refs": {"main": "main"},
    },
    ("dataset", "acme-org/data"): {
        "commits": {
            "main": {
                "README.md": f("data/readme", 210),
                "data/train.csv": f("data/train", 40_000),
                "data/test.parquet": f("data/test", 1 * MiB),
            },
            "parquet": {"default/train/0000.parquet": f("data/parquet", 700_000)},
        },
        "refs": {"main": "main", "refs/convert/parquet": "parquet"},
    },
    ("space", "acme-org/demo"): {
        "commits": {"main": {
            "app.py": f("demo/app", 900),
            "requirements.txt": f("demo/req", 40),
            "assets/logo.png": f("demo/logo", 300_000),
        }},
        "refs": {"main": "main"},
    },
    ("kernel", "acme-org/activation"): {
        "commits": {"main": {
            "build.toml": f("kernel/build", 180),
            "build/torch-universal/activation/__init__.py": f("kernel/init", 420),
        }},
        "refs": {"main": "main"},
    },
    ("model", "acme-org/big-model"): {
        "commits": {"main": {
            "config.json": f("big/config", 256),
            "model.safetensors": f("big/weights", 48 * MiB),
        }},
        "refs": {"main": "main"},
    },
}


# ---------------------------------------------------------------------------
# Deterministic content and hashes
# ---------------------------------------------------------------------------

_content_cache = {}
_content_lock = threading.Lock()


def generate(seed, size):
    """Deterministic bytes for (seed, size): a 1 MiB hash-expanded block,
    repeated with the MiB index stamped into each copy."""
    key = (seed, size)
    with _content_lock:
        if key in _content_cache:
            return _content_cache[key]
    block = bytearray()
    n = 0
    while len(block) < min(size, MiB):
        block += hashlib.sha256(f"{seed}:{n}".encode()).digest()
        n += 1
    if size <= MiB:
        data = bytes(block[:size])
    else:
        parts = [i.to_bytes(8, "big") + bytes(block[8:]) for i in range(-(-size // MiB))]
        data = b"".join(parts)[:size]
    with _content_lock:
        _content_cache[key] = data
    return data


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def commit_sha(repo_type, repo_id, name):
    return hashlib.sha1(f"commit {repo_type}/{repo_id}@{name}".encode()).hexdigest()


class HubFile:
    def __init__(self, path, spec):
        self.path = path
        self.seed = spec["seed"]
        self.size = spec["size"]
        self.data = generate(self.seed, self.size)
        self.lfs = self.size >= LFS_THRESHOLD
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        if self.lfs:
            pointer = (f"version https://git-lfs.github.com/spec/v1\n"
                       f"oid sha256:{self.sha256}\nsize {self.size}\n").encode()
            self.pointer_size = len(pointer)
            self.oid = git_blob_sha1(pointer)
        else:
            self.pointer_size = None
            self.oid = git_blob_sha1(self.data)

    @property
    def etag(self):
        """What the client stores the blob as: sha256 for LFS, git sha1 otherwise."""
        return self.sha256 if self.lfs else self.oid

    def tree_entry(self):
        entry = {"type": "file", "oid": self.oid, "size": self.size, "path": self.path}
        if self.lfs:
            entry["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": self.pointer_size}
        return entry


class Repo:
    def __init__(self, repo_type, repo_id, definition):
        self.repo_type = repo_type
        self.repo_id = repo_id
        self.commits = {}  # sha -> {path: HubFile}
        names = {}
        for name, files in definition["commits"].items():
            sha = commit_sha(repo_type, repo_id, name)
            names[name] = sha
            self.commits[sha] = {p: HubFile(p, spec) for p, spec in sorted(files.items())}
        self.refs = {ref: names[name] for ref, name in definition["refs"].items()}

    def resolve(self, rev):
        """Branch/tag/PR ref, full commit, or a unique short hash (>= 7 chars)."""
        if rev in self.refs:
            return self.refs[rev]
        if rev in self.commits:
            return rev
        if re.fullmatch(r"[0-9a-f]{7,39}", rev):
            hits = [c for c in self.commits if c.startswith(rev)]
            if len(hits) == 1:
                return hits[0]
        return None

    def tree(self, sha, path="", recursive=False):
        files = self.commits[sha]
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        dirs, out = set(), []
        for p, hf in files.items():
            if not p.startswith(prefix):
                continue
            rest = p[len(prefix):].split("/")
            for depth in range(1, len(rest)):
                if recursive or depth == 1:
                    dirs.add(prefix + "/".join(rest[:depth]))
            if recursive or len(rest) == 1:
                out.append(hf.tree_entry())
        for d in sorted(dirs):
            out.append({"type": "directory", "path": d,
                        "oid": hashlib.sha1(f"tree {sha}:{d}".encode()).hexdigest()})
        return sorted(out, key=lambda e: (e["path"].count("/"), e["path"]))

    def spec(self):
        return {
            "repo_type": self.repo_type,
            "repo_id": self.repo_id,
            "folder": f"{self.repo_type}s--" + self.repo_id.replace("/", "--"),
            "refs": self.refs,
            "commits": {
                sha: {p: {"size": hf.size, "lfs": hf.lfs, "oid": hf.oid, "sha256": hf.sha256,
                          "etag": hf.etag} for p, hf in files.items()}
                for sha, files in self.commits.items()
            },
        }


def build_repos():
    return {(t, rid): Repo(t, rid, d) for (t, rid), d in REPOS.items()}


# ---------------------------------------------------------------------------
# Transfer control (throttle, pause) and request log
# ---------------------------------------------------------------------------

class Control:
    def __init__(self, bps, log_path):
        self.lock = threading.Lock()
        self.bps = bps
        self.running = threading.Event()
        self.running.set()
        self.pause_after = None  # pause once one body has sent this many bytes
        self.transfers = {}  # id -> dict
        self.next_id = 0
        self.requests = []
        self.log_path = log_path
        self.stopping = False

    def status(self):
        with self.lock:
            return {"bps": self.bps, "paused": not self.running.is_set(),
                    "pause_after_bytes": self.pause_after,
                    "transfers": [dict(t) for t in self.transfers.values()]}

    def log(self, entry):
        line = json.dumps(entry, sort_keys=True)
        with self.lock:
            self.requests.append(entry)
            if self.log_path:
                with open(self.log_path, "a") as fh:
                    fh.write(line + "\n")

    def wait_running(self):
        while not self.running.wait(0.2):
            if self.stopping:
                raise ConnectionAbortedError("server stopping")


# ---------------------------------------------------------------------------
# HTTP handler
# ---------------------------------------------------------------------------

class HubError(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def parse_range(header, total):
    """Return (start, end_inclusive) or None for the whole body; raise on junk."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        raise HubError(416, None, f"bad Range {header!r}")
    if m.group(1) == "":  # suffix range: last N bytes
        n = int(m.group(2))
        return max(total - n, 0), total - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else total - 1
    if start >= total or end < start:
        raise HubError(416, None, f"unsatisfiable Range {header!r} for {total} bytes")
    return start, min(end, total - 1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-hub/1"

    # -- plumbing ---------------------------------------------------------

    def log_message(self, fmt, *args):  # the JSON request log replaces stderr noise
        if self.server.verbose:
            sys.stderr.write("fake_hub: " + fmt % args + "\n")

    def _begin(self):
        self._status = None
        self._sent = 0
        self._aborted = False
        self._t0 = time.time()

    def _finish(self):
        self.server.control.log({
            "t": round(self._t0, 3), "duration": round(time.time() - self._t0, 3),
            "method": self.command, "path": self.path, "host": self.headers.get("Host"),
            "range": self.headers.get("Range"), "status": self._status,
            "body_bytes": self._sent, "aborted": self._aborted,
        })

    def _headers(self, status, headers, length):
        self._status = status
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _json(self, status, obj, headers=None):
        body = json.dumps(obj).encode()
        self._headers(status, {"Content-Type": "application/json", **(headers or {})}, len(body))
        if self.command != "HEAD":
            self.wfile.write(body)
            self._sent = len(body)

    def _error(self, err):
        headers = dict(err.headers)
        if err.code:
            headers["X-Error-Code"] = err.code
        headers["X-Error-Message"] = err.message
        self._json(err.status, {"error": err.message}, headers)

    def _dispatch(self):
        self._begin()
        try:
            self.route()
        except HubError as err:
            self._error(err)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self._aborted = True
            self.close_connection = True
        finally:
            self._finish()

    do_GET = do_HEAD = do_POST = _dispatch

    # -- routing ----------------------------------------------------------

    def route(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        segs = url.path.strip("/").split("/")  # still percent-encoded
        if segs[0] == "_control":
            return self.control(segs[1:], query)
        if segs[0] == "_cdn" and len(segs) == 2 and self.command in ("GET", "HEAD"):
            return self.cdn(segs[1])
        if segs[0] == "api" and len(segs) >= 3 and self.command == "GET":
            return self.api(segs[1:], query)
        if self.command in ("GET", "HEAD"):
            return self.resolve(segs)
        raise HubError(405, None, f"{self.command} not allowed on {url.path}")

    def find_repo(self, repo_type, segs, keywords, allow_bare=False):
        """Split `<repo_id...>/<keyword>/...` for a 1- or 2-part repo id
        (`allow_bare`: the path may also be just `<repo_id>`)."""
        for k in (1, 2):
            if len(segs) > k and segs[k] in keywords:
                repo_id = "/".join(unquote(s) for s in segs[:k])
                repo = self.server.repos.get((repo_type, repo_id))
                if repo is None:
                    raise HubError(404, "RepoNotFound", f"Repository Not Found for url: {self.path}")
                return repo, segs[k], segs[k + 1:]
        if allow_bare and 1 <= len(segs) <= 2:
            repo_id = "/".join(unquote(s) for s in segs)
            repo = self.server.repos.get((repo_type, repo_id))
            if repo is not None:
                return repo, None, []
        raise HubError(404, "RepoNotFound", f"Repository Not Found for url: {self.path}")

    def commit_for(self, repo, rev):
        sha = repo.resolve(rev)
        if sha is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return sha

    # -- /api --------------------------------------------------------------

    def api(self, segs, query):
        plural = segs[0]
        repo_type = plural[:-1] if plural.endswith("s") else plural
        if repo_type not in REPO_TYPES:
            raise HubError(404, None, f"unknown API {self.path}")
        repo, keyword, rest = self.find_repo(repo_type, segs[1:], ("revision", "tree"), allow_bare=True)
        if keyword in (None, "revision"):
            rev = unquote(rest[0]) if rest else "main"
            sha = self.commit_for(repo, rev)
            files = repo.commits[sha]
            info = {"id": repo.repo_id, "sha": sha, "private": False, "disabled": False,
                    "siblings": [{"rfilename": p} for p in files]}
            if repo_type == "model":
                info["modelId"] = repo.repo_id
            return self._json(200, info)
        # tree
        if not rest:
            raise HubError(400, None, "missing revision")
        sha = self.commit_for(repo, unquote(rest[0]))
        path = "/".join(unquote(s) for s in rest[1:])
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        entries = repo.tree(sha, path, recursive)
        if path and not entries:
            raise HubError(404, "EntryNotFound", f"{path} does not exist at {sha}",
                           {"X-Repo-Commit": sha})
        page = self.server.tree_page_size
        start = int(query.get("cursor", ["0"])[0])
        headers = {}
        if start + page < len(entries):
            nxt = urlsplit(self.path)._replace(query=f"recursive={str(recursive).lower()}"
                                               f"&cursor={start + page}")
            host = self.headers.get("Host", "127.0.0.1")
            headers["Link"] = f'<http://{host}{nxt.geturl()}>; rel="next"'
        return self._json(200, entries[start:start + page], headers)

    # -- /resolve ------------------------------------------------------------

    def resolve(self, segs):
        repo_type = "model"
        if segs[0] in ("datasets", "spaces", "kernels") and len(segs) > 2:
            repo_type = segs[0][:-1]
            segs = segs[1:]
        repo, _, rest = self.find_repo(repo_type, segs, ("resolve",))
        if len(rest) < 2:
            raise HubError(404, "EntryNotFound", "missing file path")
        sha = self.commit_for(repo, unquote(rest[0]))
        path = "/".join(unquote(s) for s in rest[1:])
        hf = repo.commits[sha].get(path)
        common = {"X-Repo-Commit": sha}
        if hf is None:
            raise HubError(404, "EntryNotFound", f"Entry not found: {path}", common)
        if hf.lfs:
            host = urlsplit("//" + self.headers.get("Host", "127.0.0.1")).hostname or ""
            cdn_host = self.server.cdn_host or ("127.0.0.1" if host == "localhost" else "localhost")
            location = f"http://{cdn_host}:{self.server.server_address[1]}/_cdn/{hf.sha256}"
            return self._headers(302, {**common, "Location": location,
                                       "ETag": f'"{hf.oid}"',
                                       "X-Linked-Etag": f'"{hf.sha256}"',
                                       "X-Linked-Size": str(hf.size)}, 0)
        return self.body(hf.data, {**common, "ETag": f'"{hf.oid}"'})

    def cdn(self, sha256):
        hf = self.server.by_sha256.get(sha256)
        if hf is None:
            raise HubError(404, None, f"no object {sha256}")
        return self.body(hf.data, {"ETag": f'"{hf.sha256}"'})

    def body(self, data, headers):
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes", **headers}
        rng = parse_range(self.headers.get("Range"), len(data))
        if rng is None:
            status, start, end = 200, 0, len(data) - 1
        else:
            status, (start, end) = 206, rng
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        self._headers(status, headers, end - start + 1)
        if self.command == "HEAD":
            return
        self.stream(memoryview(data)[start:end + 1])

    def stream(self, view):
        ctl = self.server.control
        with ctl.lock:
            tid = ctl.next_id
            ctl.next_id += 1
            ctl.transfers[tid] = {"path": self.path, "sent": 0, "total": len(view)}
        try:
            base_t, base_sent, base_bps = time.monotonic(), 0, None
            while self._sent < len(view):
                if not ctl.running.is_set():
                    ctl.wait_running()
                    base_t, base_sent = time.monotonic(), self._sent  # no burst after a pause
                bps = ctl.bps
                if bps != base_bps:
                    base_t, base_sent, base_bps = time.monotonic(), self._sent, bps
                piece = 64 * 1024 if not bps else max(4096, min(64 * 1024, bps // 20))
                chunk = view[self._sent:self._sent + piece]
                self.wfile.write(chunk)
                self._sent += len(chunk)
                with ctl.lock:
                    ctl.transfers[tid]["sent"] = self._sent
                    if ctl.pause_after is not None and self._sent >= ctl.pause_after:
                        ctl.pause_after = None
                        ctl.running.clear()
                if bps:
                    ahead = (self._sent - base_sent) / bps - (time.monotonic() - base_t)
                    if ahead > 0:
                        time.sleep(ahead)
            self.wfile.flush()
        finally:
            with ctl.lock:
                del ctl.transfers[tid]

    # -- /_control -----------------------------------------------------------

    def control(self, segs, query):
        ctl = self.server.control
        action = segs[0] if segs else ""
        if self.command == "GET":
            if action == "requests":
                with ctl.lock:
                    return self._json(200, list(ctl.requests))
            if action == "status":
                return self._json(200, ctl.status())
            if action == "spec":
                return self._json(200, [r.spec() for r in self.server.repos.values()])
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if action == "throttle":
                try:
                    ctl.bps = int(query.get("bps", ["0"])[0])
                except ValueError:
                    raise HubError(400, None, "bps must be an integer")
                return self._json(200, ctl.status())
            if action == "pause":
                after = query.get("after_bytes")
                if after:
                    with ctl.lock:
                        ctl.pause_after = int(after[0])
                else:
                    ctl.running.clear()
                return self._json(200, ctl.status())
            if action == "resume":
                with ctl.lock:
                    ctl.pause_after = None
                ctl.running.set()
                return self._json(200, ctl.status())
        raise HubError(404, None, f"unknown control {self.command} {self.path}")


class FakeHub(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    allow_reuse_address = True

    def __init__(self, addr, repos, control, cdn_host=None, tree_page_size=1000, verbose=False):
        super().__init__(addr, Handler)
        self.repos = repos
        self.by_sha256 = {hf.sha256: hf for r in repos.values()
                          for files in r.commits.values() for hf in files.values() if hf.lfs}
        self.control = control
        self.cdn_host = cdn_host
        self.tree_page_size = tree_page_size
        self.verbose = verbose


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = pick a free one)")
    ap.add_argument("--port-file", help="write the chosen port here (atomically) once listening")
    ap.add_argument("--log", help="append one JSON line per request to this file")
    ap.add_argument("--throttle-bps", type=int, default=0, help="initial per-body rate limit")
    ap.add_argument("--cdn-host", help="host name used in LFS redirects (default: the other "
                                       "spelling of loopback, localhost <-> 127.0.0.1)")
    ap.add_argument("--tree-page-size", type=int, default=1000)
    ap.add_argument("--print-spec", action="store_true", help="print the repo spec as JSON and exit")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)

    repos = build_repos()
    if args.print_spec:
        json.dump([r.spec() for r in repos.values()], sys.stdout, indent=1)
        print()
        return 0
    control = Control(args.throttle_bps, args.log)
    server = FakeHub(("127.0.0.1", args.port), repos, control, args.cdn_host,
                     args.tree_page_size, args.verbose)
    port = server.server_address[1]
    if args.port_file:
        tmp = f"{args.port_file}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"fake_hub listening on http://127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        control.stopping = True
        control.running.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
