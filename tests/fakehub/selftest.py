#!/usr/bin/env python3
"""Self-test of fake_hub.py over real HTTP (stdlib only): the answers the
huggingface_hub client relies on, Range, error codes, pagination, throttle and
pause/resume. Run: python3 tests/fakehub/selftest.py  (exit 1 on a failure)."""

import hashlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

HUB = Path(__file__).resolve().parent / "fake_hub.py"
MiB = 1024 * 1024
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


class Client:
    def __init__(self, port):
        self.port = port

    def req(self, method, path, headers=None, host="127.0.0.1"):
        conn = http.client.HTTPConnection(host, self.port, timeout=30)
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body

    def json(self, method, path):
        status, headers, body = self.req(method, path)
        return status, headers, json.loads(body) if body else None


def main():
    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "port")
        proc = subprocess.Popen([sys.executable, str(HUB), "--port-file", port_file, "--tree-page-size", "3",
                                 "--log", os.path.join(tmp, "req.jsonl")], stdout=subprocess.DEVNULL)
        try:
            for _ in range(300):
                if os.path.exists(port_file):
                    break
                time.sleep(0.05)
            run(Client(int(Path(port_file).read_text())), tmp)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"fakehub selftest: {len(failures)} failure(s)")
    return 1 if failures else 0


def run(c, tmp):
    status, _, spec = c.json("GET", "/_control/spec")
    check(status == 200 and len(spec) >= 6, "spec lists the repos")
    tiny = next(r for r in spec if r["repo_id"] == "acme-org/tiny-model.v1_0")
    big = next(r for r in spec if r["repo_id"] == "acme-org/big-model")
    main_sha = tiny["refs"]["main"]

    # repo info per revision kind
    for rev, quoted in (("main", "main"), ("v1.0", "v1.0"), ("refs/pr/1", "refs%2Fpr%2F1"), (main_sha[:7], main_sha[:7])):
        status, _, info = c.json("GET", f"/api/models/acme-org/tiny-model.v1_0/revision/{quoted}")
        want = tiny["refs"].get(rev, main_sha)
        check(status == 200 and info["sha"] == want and info["id"] == tiny["repo_id"] and info["siblings"],
              f"revision {rev} resolves to {want[:8]}")
    status, headers, _ = c.req("GET", "/api/models/acme-org/tiny-model.v1_0/revision/nope")
    check(status == 404 and headers.get("x-error-code") == "RevisionNotFound", "unknown revision -> RevisionNotFound")
    status, headers, _ = c.req("GET", "/api/models/acme-org/nope/revision/main")
    check(status == 404 and headers.get("x-error-code") == "RepoNotFound", "unknown repo -> RepoNotFound")
    for kind, rid in (("datasets", "acme-org/data"), ("spaces", "acme-org/demo"), ("kernels", "acme-org/activation"),
                      ("models", "gpt2")):
        status, _, info = c.json("GET", f"/api/{kind}/{rid}/revision/main")
        check(status == 200 and info["id"] == rid, f"{kind} repo info for {rid}")

    # recursive tree with pagination (page size 3 here)
    entries, path = [], f"/api/models/acme-org/tiny-model.v1_0/tree/{main_sha}?recursive=true&expand=false"
    pages = 0
    while path:
        status, headers, page = c.json("GET", path)
        entries += page
        pages += 1
        link = headers.get("link", "")
        path = urlsplit(link[1:link.index(">")]).geturl().split(f":{c.port}", 1)[1] if "next" in link else None
    files = {e["path"]: e for e in entries if e["type"] == "file"}
    dirs = {e["path"] for e in entries if e["type"] == "directory"}
    check(pages > 1 and set(files) == set(tiny["commits"][main_sha]), f"tree pages ({pages}) list every file")
    check(dirs == {"tokenizer", "tokenizer/sub"}, "tree lists nested directories")
    weights = files["model.safetensors"]
    check(weights.get("lfs", {}).get("oid") == tiny["commits"][main_sha]["model.safetensors"]["sha256"]
          and weights["lfs"]["size"] == weights["size"] and weights["lfs"]["pointerSize"] > 0, "LFS entry in tree")
    check("lfs" not in files["config.json"], "small file has no lfs entry")

    # resolve: small file, LFS redirect to another host, 404s
    status, headers, body = c.req("HEAD", "/acme-org/tiny-model.v1_0/resolve/main/tokenizer/sub/tokenizer.json")
    check(status == 200 and headers.get("x-repo-commit") == main_sha and headers["etag"].strip('"') ==
          tiny["commits"][main_sha]["tokenizer/sub/tokenizer.json"]["oid"] and not body,
          "HEAD small file: 200, X-Repo-Commit, git sha1 ETag, no body")
    status, headers, body = c.req("GET", "/acme-org/tiny-model.v1_0/resolve/main/config.json")
    check(status == 200 and hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest() == headers["etag"].strip('"'),
          "GET small file: body hashes to its ETag")
    status, headers, _ = c.req("HEAD", "/acme-org/tiny-model.v1_0/resolve/refs%2Fpr%2F1/model.safetensors")
    loc = urlsplit(headers.get("location", ""))
    sha256 = tiny["commits"][main_sha]["model.safetensors"]["sha256"]
    check(status == 302 and loc.hostname == "localhost" and loc.path == f"/_cdn/{sha256}"
          and headers.get("x-linked-etag") == f'"{sha256}"' and headers.get("x-linked-size") == str(3 * MiB)
          and headers.get("x-repo-commit") == tiny["refs"]["refs/pr/1"], "HEAD LFS file: 302 to localhost CDN")
    status, headers, _ = c.req("HEAD", "/acme-org/tiny-model.v1_0/resolve/main/model.safetensors", host="localhost")
    check(urlsplit(headers.get("location", "")).hostname == "127.0.0.1", "LFS redirect from localhost goes to 127.0.0.1")
    status, headers, _ = c.req("HEAD", "/acme-org/tiny-model.v1_0/resolve/main/missing.txt")
    check(status == 404 and headers.get("x-error-code") == "EntryNotFound" and headers.get("x-repo-commit") == main_sha,
          "missing file -> EntryNotFound + X-Repo-Commit")
    for path, what in (("/datasets/acme-org/data/resolve/main/data/train.csv", "dataset"),
                       ("/spaces/acme-org/demo/resolve/main/app.py", "space"), ("/gpt2/resolve/main/config.json", "legacy id")):
        status, _, _ = c.req("HEAD", path)
        check(status == 200, f"resolve {what} file")

    # CDN: full body, Range, bad Range
    status, _, body = c.req("GET", f"/_cdn/{sha256}")
    check(status == 200 and hashlib.sha256(body).hexdigest() == sha256, "CDN body hashes to its sha256")
    status, headers, part = c.req("GET", f"/_cdn/{sha256}", {"Range": "bytes=100-199"})
    check(status == 206 and part == body[100:200] and headers.get("content-range") == f"bytes 100-199/{len(body)}",
          "Range -> 206 + Content-Range")
    status, _, part = c.req("GET", f"/_cdn/{sha256}", {"Range": f"bytes={len(body) - 10}-"})
    check(status == 206 and part == body[-10:], "open-ended Range")
    status, _, _ = c.req("GET", f"/_cdn/{sha256}", {"Range": f"bytes={len(body)}-"})
    check(status == 416, "Range past the end -> 416")

    # throttle, pause mid-body, resume
    big_sha = big["commits"][big["refs"]["main"]]["model.safetensors"]["sha256"]
    c.req("POST", f"/_control/throttle?bps={4 * MiB}")
    c.req("POST", f"/_control/pause?after_bytes={2 * MiB}")
    result = {}

    def fetch():
        t0 = time.monotonic()
        status, _, body = c.req("GET", f"/_cdn/{big_sha}", {"Range": f"bytes=0-{4 * MiB - 1}"})
        result.update(status=status, n=len(body), t=time.monotonic() - t0)

    th = threading.Thread(target=fetch)
    th.start()
    status_seen = None
    for _ in range(100):
        _, _, status_seen = c.json("GET", "/_control/status")
        if status_seen["paused"]:
            break
        time.sleep(0.05)
    time.sleep(1.0)
    _, _, later = c.json("GET", "/_control/status")
    sent = [t["sent"] for t in later["transfers"]]
    check(status_seen["paused"] and len(sent) == 1 and 2 * MiB <= sent[0] < 3 * MiB and th.is_alive(),
          f"transfer blocks mid-body while paused (sent {sent})")
    c.req("POST", "/_control/resume")
    th.join(30)
    check(result.get("status") == 206 and result.get("n") == 4 * MiB and result["t"] >= 1.8,
          f"resumed transfer completes at the throttled rate ({result})")
    c.req("POST", "/_control/throttle?bps=0")
    _, _, log = c.json("GET", "/_control/requests")
    lines = Path(tmp, "req.jsonl").read_text().splitlines()
    check(len(log) >= 20 and len(lines) >= len(log), "request log kept in memory and in --log")


if __name__ == "__main__":
    sys.exit(main())
