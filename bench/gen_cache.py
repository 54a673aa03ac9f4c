#!/usr/bin/env python3
"""Generate a deterministic synthetic Hugging Face Hub cache and the totals the exporter must report for it.

    gen_cache.py --preset small|medium|large|huge --out DIR [--seed N]

writes the cache root DIR/hub and DIR/expected.json (per repo folder, the figures `hf-cache-exporter scan --json`
prints, plus root totals and the file counts bench/compare.sh divides syscall counts by). Same preset and seed give
the same tree, names, sizes and mtimes. Big files are sparse (ftruncate), so a cache of terabytes takes a few MB.

Layouts (per /work/shared/docs/hf-cache.md): symlinked snapshots with several revisions sharing blobs, nested
paths, no-symlink repos (real files in snapshots/, one hard link), repos in the cache-wide shared blob store,
temp files of every client (`<etag>.<8hex>.incomplete`, `<etag>.incomplete`, hf-hub `.part`/`.sync.part` with
`blobs/<etag>.lock`) with their `.locks/` files, orphan blobs, `.no_exist/`, `trees/<commit>.json`, refs-only
folders, datasets, spaces, kernels. Temp files are old (abandoned by age) except in repos marked live, whose temp
file carries a far-future mtime (as a skewed NFS server writes it): the exporter counts that as changing now, so
"downloading" is deterministic too.
"""

import argparse
import json
import os
import random
import shutil
import sys
import time

from cachewriter import MIB, Cache, Repo

BASE_TIME = 1_700_000_000  # 2023-11-14: every content mtime is after this and long before any scan
FUTURE = 4_102_444_800  # 2100-01-01
GIB = 1024 * MIB
PRESETS = {
    # name: (random repos, [files of each big dataset])
    "small": (0, []),
    "medium": (500, []),
    "large": (200, [100_000]),
    "huge": (500, [244_000] * 4),
}
TEXT = b'{"synthetic": true, "generator": "hf-cache-exporter bench/gen_cache.py"}\n'
NESTED = ["onnx", "openvino", "1_Pooling", "tokenizer/sub", "checkpoints/step-1000", "gguf"]


class Gen:
    def __init__(self, seed, cache):
        self.rng = random.Random(seed)
        self.cache = cache
        self.results = {}

    def hex(self, n):
        return f"{self.rng.getrandbits(n * 4):0{n}x}"

    def when(self):
        return BASE_TIME + self.rng.randrange(20_000_000)

    def repo(self, repo_type, repo_id):
        return Repo(self.cache, repo_type, repo_id)

    def done(self, repo):
        self.results[repo.folder] = repo.close(time.time())

    # --- file lists -------------------------------------------------------------------------------------------
    def small_file(self, path):
        return {"path": path, "etag": self.hex(40), "size": self.rng.randrange(300, 4000), "lfs": False}

    def lfs_file(self, path, lo, hi):
        return {"path": path, "etag": self.hex(64), "size": self.rng.randrange(lo, hi), "lfs": True}

    def model_files(self, n):
        files = [self.small_file(p) for p in ("config.json", "tokenizer_config.json", ".gitattributes", "README.md")]
        shards = max(1, min(8, n // 6))
        for i in range(shards):
            files.append(self.lfs_file(f"model-{i + 1:05d}-of-{shards:05d}.safetensors", GIB, 5 * GIB))
        files.append(self.lfs_file("tokenizer.json", 2 * MIB, 12 * MIB))
        while len(files) < n:
            sub = self.rng.choice(NESTED)
            k = len(files)
            files.append(self.lfs_file(f"{sub}/part_{k}.bin", MIB, 800 * MIB) if k % 3 else
                         self.small_file(f"{sub}/config_{k}.json"))
        return files[:max(n, 1)]

    def revisions(self, files, count):
        """`count` commits, oldest first; each later one changes one or two files (new blobs) of the previous."""
        revs = [(self.hex(40), files)]
        for _ in range(count - 1):
            nxt = list(revs[-1][1])
            for _ in range(self.rng.choice((1, 2))):
                i = self.rng.randrange(len(nxt))
                old = nxt[i]
                nxt[i] = self.lfs_file(old["path"], MIB, 3 * GIB) if old["lfs"] else self.small_file(old["path"])
            revs.append((self.hex(40), nxt))
        return revs

    # --- repo recipes -----------------------------------------------------------------------------------------
    def symlinked(self, repo_type, repo_id, n, nrevs, tree=False, orphan=False, temp=None, live=False,
                  hf_hub=False):
        """The default layout. `temp`: None, "incomplete" (unique name), "legacy" (fixed name, leftover beside its
        finished blob), "part" or "sync.part" (hf-hub 0.4); the newest file of main is then still downloading."""
        r = self.repo(repo_type, repo_id)
        revs = self.revisions(self.model_files(n) if repo_type != "dataset" else self.dataset_files(n), nrevs)
        main_commit, main_files = revs[-1]
        pending = None
        if temp in ("incomplete", "part", "sync.part"):
            older = {f["etag"] for _, fs in revs[:-1] for f in fs}
            fresh = [f for f in main_files if f["lfs"] and f["etag"] not in older]
            pending = fresh[-1] if fresh else None
        written = set()
        for commit, fs in revs:
            links = []
            for f in fs:
                if f is pending:
                    continue
                if f["etag"] not in written:
                    written.add(f["etag"])
                    r.blob(f["etag"], f["size"], self.when(), TEXT if not f["lfs"] else None)
                links.append((f["path"], f["etag"]))
            r.snapshot_links(commit, links)
        r.ref("main", main_commit)
        if nrevs > 1:
            r.ref("v1.0", revs[0][0])
        if hf_hub:
            r.ref(main_commit, main_commit)  # hf-hub 0.4 writes refs/<sha> even for a commit
        if orphan:
            r.blob(self.hex(64), self.rng.randrange(MIB, GIB), self.when())
        if self.rng.random() < 0.3:
            r.no_exist(main_commit, "model.safetensors")
        mtime = FUTURE if live else self.when()
        if pending is not None:
            size = pending["size"]
            if temp == "incomplete":
                r.temp(pending["etag"], f"{pending['etag']}.{self.hex(8)}.incomplete",
                       (size // (10 * MIB)) // 2 * 10 * MIB, mtime)
            elif temp == "part":
                r.temp(pending["etag"], f"{pending['etag']}.part", size // 3, mtime, lock="hf-hub")
            else:
                r.temp(pending["etag"], f"{pending['etag']}.sync.part", size + 8, mtime, sync_part_data=64 * 1024,
                       lock="hf-hub")
        elif temp == "legacy":
            done = main_files[-1]
            r.temp(done["etag"], f"{done['etag']}.incomplete", done["size"] // 2, mtime)
        if tree:
            r.write_tree(main_commit, [(f["path"], f["etag"], f["size"], f["lfs"]) for f in main_files])
        if repo_type == "dataset":
            # The Hub's parquet bot: refs/convert/parquet names a revision of its own.
            commit = self.hex(40)
            files = [self.lfs_file(f"default/train/{i:04d}.parquet", MIB, 500 * MIB) for i in range(2)]
            for f in files:
                r.blob(f["etag"], f["size"], self.when())
            r.snapshot_links(commit, [(f["path"], f["etag"]) for f in files])
            r.ref("refs/convert/parquet", commit)
        self.done(r)

    def no_symlink(self, repo_id, n, nrevs, tree=False, hardlink=False, temp=False):
        """HF_HUB_DISABLE_SYMLINKS: finished files are moved into snapshots/, so revisions hold separate copies."""
        r = self.repo("model", repo_id)
        r.cache.mkdir(os.path.join(r.cache.root, r.folder, "blobs"))
        revs = self.revisions(self.model_files(n), nrevs)
        first = {}
        for commit, fs in revs:
            for f in fs:
                src = first.get(f["etag"])
                link = src if hardlink and src is not None and not f["lfs"] else None
                r.snapshot_file(commit, f["path"], f["size"], self.when(), TEXT if not f["lfs"] else None,
                                hardlink_from=link)
                first.setdefault(f["etag"], (commit, f["path"]))
        r.ref("main", revs[-1][0])
        if temp:
            etag = self.hex(64)
            r.temp(etag, f"{etag}.{self.hex(8)}.incomplete", 20 * MIB, self.when())
        if tree:
            r.write_tree(revs[-1][0], [(f["path"], f["etag"], f["size"], f["lfs"]) for f in revs[-1][1]])
        self.done(r)

    def shared_pair(self, repo_id, n, tree=False):
        """Two repos (base and fine-tune) in the shared store: their LFS blobs are symlinks to one payload each,
        counted in both repos; small git files stay regular blobs."""
        files = self.model_files(n)
        xet = {f["etag"]: self.hex(64) for f in files if f["lfs"]}
        for suffix in ("", "-finetuned"):
            r = self.repo("model", repo_id + suffix)
            commit = self.hex(40)
            for f in files:
                if f["lfs"]:
                    r.shared_blob(f["etag"], xet[f["etag"]], f["size"], self.when())
                else:
                    r.blob(f["etag"], f["size"], self.when(), TEXT)
            r.snapshot_links(commit, [(f["path"], f["etag"]) for f in files])
            r.ref("main", commit)
            if tree and not suffix:
                r.write_tree(commit, [(f["path"], f["etag"], f["size"], f["lfs"]) for f in files])
            self.done(r)
        self.cache.payload(self.hex(64), self.rng.randrange(MIB, GIB), self.when())  # unreferenced payload

    def dataset_files(self, n):
        per_dir = 1000
        files = [self.small_file("README.md")]
        for i in range(n - 1):
            split = "train" if i % 10 else "test"
            files.append({"path": f"data/{split}/{i // per_dir:04d}/{i:07d}.parquet", "etag": self.hex(64),
                          "size": self.rng.randrange(20_000, 2 * MIB), "lfs": True})
        return files

    def refs_only(self, repo_id):
        """What snapshot_download(local_dir=...) leaves in the hub cache: refs/main and nothing else."""
        r = self.repo("model", repo_id)
        r.ref("main", self.hex(40))
        self.done(r)


def small(g):
    """Every layout once; about thirty content files."""
    g.symlinked("model", "synth-org/tiny-model.v1_0", 5, 2, tree=True, orphan=True, temp="incomplete")
    g.symlinked("model", "gpt2-synth", 3, 1, temp="legacy")
    g.symlinked("model", "synth-org/live-download", 5, 1, tree=True, temp="incomplete", live=True)
    g.symlinked("model", "synth-org/rust-client", 5, 1, tree=True, temp="sync.part", hf_hub=True)
    g.symlinked("model", "synth-org/rust-client-sync", 5, 1, temp="part", hf_hub=True)
    g.no_symlink("synth-org/no-symlinks", 3, 2, tree=True, hardlink=True, temp=True)
    g.shared_pair("synth-org/shared-base", 5, tree=True)
    g.symlinked("dataset", "synth-org/tiny-set", 3, 1)
    g.symlinked("space", "synth-org/demo", 2, 1)
    g.symlinked("kernel", "synth-org/flash-kernel", 2, 1)
    g.refs_only("synth-org/local-dir-only")


def mixed(g, count):
    """`count` repos drawn from the layouts in rough real-world proportions."""
    made = 0
    while made < count:
        k = made
        pick = g.rng.random()
        band = g.rng.random()
        n = g.rng.randrange(7, 19) if band < 0.5 else g.rng.randrange(19, 72) if band < 0.85 else g.rng.randrange(72, 300)
        revs = g.rng.choice([1] * 13 + [2] * 6 + [3])
        tree = g.rng.random() < 0.3
        if pick < 0.06:
            g.no_symlink(f"org{k % 37:02d}/nosym-{k:04d}", n, revs, tree=tree, hardlink=k % 2 == 0, temp=k % 3 == 0)
        elif pick < 0.14 and made + 2 <= count:
            g.shared_pair(f"org{k % 37:02d}/xet-{k:04d}", n, tree=tree)
            made += 1
        elif pick < 0.17:
            g.symlinked("model", f"org{k % 37:02d}/candle-{k:04d}", n, revs, tree=tree, hf_hub=True,
                        temp=g.rng.choice(("part", "sync.part")))
        elif pick < 0.19:
            g.refs_only(f"org{k % 37:02d}/localdir-{k:04d}")
        elif pick < 0.29:
            g.symlinked("dataset", f"org{k % 37:02d}/set-{k:04d}", n, revs, tree=tree)
        elif pick < 0.34:
            g.symlinked("space", f"org{k % 37:02d}/space-{k:04d}", max(3, n // 4), 1)
        else:
            temp = g.rng.choice([None] * 8 + ["incomplete", "legacy"])
            g.symlinked("model", f"org{k % 37:02d}/model-{k:04d}", n, revs, tree=tree,
                        orphan=g.rng.random() < 0.1, temp=temp)
        made += 1


def generate(preset, out, seed):
    root = os.path.join(out, "hub")
    if os.path.exists(root):
        shutil.rmtree(root)
    started = time.monotonic()
    cache = Cache(root, BASE_TIME)
    g = Gen(seed, cache)
    count, big = PRESETS[preset]
    if preset == "small":
        small(g)
    else:
        small(g)
        mixed(g, count - len(g.results))
        for i, n in enumerate(big):
            g.symlinked("dataset", f"synth-org/big-images-{i}", n, 1)
    cache.finish()
    repos = dict(sorted(g.results.items()))
    fields = ("bytes", "allocated_bytes", "files", "incomplete_files", "incomplete_bytes", "abandoned_files",
              "abandoned_bytes")
    totals = {f: sum(r[f] for r in repos.values()) for f in fields}
    totals.update(exists=True, repos_found=len(repos), repos_dropped=0, success=True, errors={})
    expected = {"generator": {"preset": preset, "seed": seed, "format": 1}, "cache_dir": root, "root": totals,
                "counts": cache.counts, "repos": repos}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    return time.monotonic() - started, expected


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), required=True)
    ap.add_argument("--out", required=True, help="output dir: the cache goes to OUT/hub, totals to OUT/expected.json")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    took, exp = generate(a.preset, a.out, a.seed)
    c = exp["counts"]
    print(f"gen_cache: {a.preset} seed {a.seed}: {c['repos']} repos, {c['content_regular_files']} content files, "
          f"{c['snapshot_symlinks']} snapshot symlinks, {c['temp_files']} temp files, "
          f"{exp['root']['bytes'] / 1e12:.2f} TB apparent, in {took:.1f}s -> {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
