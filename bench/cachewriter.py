"""Write a Hub cache tree and account, as each file is written, for the figures the exporter must report.

The accounting follows the README's "What is counted" section, not the exporter's code, so the two can disagree:
content files are the regular files under R/blobs/ and R/snapshots/ plus shared-store payloads that a symlink
directly in R/blobs/ points at, each inode once per repo; temp files (*.incomplete, *.part, *.sync.part) count
in bytes but not in files; refs/, .no_exist/, trees/, hf-hub *.lock and .locks/ count nothing. Sizes and mtimes
are chosen by the caller; allocated bytes (st_blocks*512) depend on the filesystem, so they are read back with
fstat on the open file descriptor right after it is written.
"""

import json
import os

MIB = 1024 * 1024
ABANDON_AFTER = 6 * 3600  # the exporter's default downloads.abandon_after


def _ns(t):
    return int(t) * 1_000_000_000


class Physical:
    """One inode: what a stat of it returns."""

    __slots__ = ("ident", "size", "alloc", "mtime")

    def __init__(self, ident, st):
        self.ident = ident
        self.size = st.st_size
        self.alloc = st.st_blocks * 512
        # The exporter's formula: seconds as f64 + nanoseconds / 1e9.
        self.mtime = float(st.st_mtime_ns // 1_000_000_000) + (st.st_mtime_ns % 1_000_000_000) / 1e9


class Cache:
    """A cache root being written; `counts` feeds the syscall ratios of bench/compare.sh."""

    def __init__(self, root, base_time):
        self.root = root
        self.base_time = base_time  # mtime of bookkeeping files (refs, trees, locks): not content, never counted
        self._dirs = set()
        self._next_ident = 0
        self.payloads = {}  # xet hash -> (Physical, [referencing link paths relative to root])
        self.counts = {"repos": 0, "content_regular_files": 0, "temp_files": 0, "snapshot_symlinks": 0,
                       "blob_symlinks": 0, "other_files": 0, "directories": 0}
        self.mkdir(root)
        self.write_file("CACHEDIR.TAG", 191, base_time, content=b"Signature: 8a477f597d28d172789f06886806bc55\n")

    def mkdir(self, path):
        if path in self._dirs:
            return
        parent = os.path.dirname(path)
        if parent and parent != path and parent not in self._dirs and not os.path.isdir(parent):
            self.mkdir(parent)
        os.makedirs(path, exist_ok=True)
        self._dirs.add(path)
        self.counts["directories"] += 1

    def write_file(self, rel, size, mtime, content=None, data_at=None):
        """Create root/rel with `size` apparent bytes: `content` written at 0 (padded or cut to size), else
        sparse (ftruncate), optionally with `data_at=(offset, length)` really written. Returns its Physical."""
        path = os.path.join(self.root, rel)
        self.mkdir(os.path.dirname(path))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if content is not None and size > 0:
                body = (content * (size // max(len(content), 1) + 1))[:size]
                os.write(fd, body)
            elif size > 0:
                os.ftruncate(fd, size)
                if data_at is not None:
                    os.pwrite(fd, b"\x5a" * data_at[1], data_at[0])
            os.utime(fd, ns=(_ns(mtime), _ns(mtime)))
            st = os.fstat(fd)
        finally:
            os.close(fd)
        self._next_ident += 1
        return Physical(self._next_ident, st)

    def symlink(self, target, rel):
        path = os.path.join(self.root, rel)
        self.mkdir(os.path.dirname(path))
        os.symlink(target, path)

    def payload(self, xet_hash, size, mtime):
        """A file of the cache-wide shared blob store (huggingface_hub >= 1.32), written once."""
        if xet_hash not in self.payloads:
            rel = f"blobs/{xet_hash[:2]}/{xet_hash}"
            phys = self.write_file(rel, size, mtime)
            self.payloads[xet_hash] = (phys, [])
        return self.payloads[xet_hash][0]

    def finish(self):
        """Store metadata: the marker, a .refs manifest and a .lock per payload (none of it is content)."""
        if not self.payloads:
            return
        self.write_file("blobs/.huggingface-shared-blobs", 2, self.base_time, content=b"1\n")
        for xet_hash, (_, links) in sorted(self.payloads.items()):
            base = f"blobs/{xet_hash[:2]}/{xet_hash}"
            manifest = "".join(f"{link}\n" for link in links).encode()
            if manifest:
                self.write_file(base + ".refs", len(manifest), self.base_time, content=manifest)
            self.write_file(base + ".lock", 0, self.base_time)
            self.counts["other_files"] += 2


class Repo:
    """One repo folder. Every write updates the expected figures; `close()` returns them."""

    def __init__(self, cache, repo_type, repo_id):
        self.cache = cache
        self.repo_type = repo_type
        self.repo_id = repo_id
        self.folder = f"{repo_type}s--{repo_id.replace('/', '--')}"
        self.seen = set()  # idents of counted content inodes (hard links, shared payloads)
        self.bytes = self.alloc = self.files = self.inc_files = self.inc_bytes = 0
        self.mtime = None
        self.commits = set()
        self.blob_names = set()
        self.snapshot_files = set()  # (commit, path) of regular files in snapshots/
        self.temps = []  # (etag, size, alloc, sync_part, mtime, blob_exists)
        self.tree = None  # (commit, {path: (etag, size)})
        self.physical = {}  # (commit, path) -> Physical, for hard links between revisions
        cache.counts["repos"] += 1
        cache.mkdir(os.path.join(cache.root, self.folder))

    def _rel(self, *parts):
        return os.path.join(self.folder, *parts)

    def _content(self, phys):
        if phys.ident in self.seen:
            return
        self.seen.add(phys.ident)
        self.files += 1
        self._add(phys)

    def _add(self, phys):
        self.bytes += phys.size
        self.alloc += phys.alloc
        self.mtime = phys.mtime if self.mtime is None else max(self.mtime, phys.mtime)

    def blob(self, etag, size, mtime, content=None):
        """A finished blob as a regular file in R/blobs/."""
        phys = self.cache.write_file(self._rel("blobs", etag), size, mtime, content)
        self.blob_names.add(etag)
        self.cache.counts["content_regular_files"] += 1
        self._content(phys)

    def shared_blob(self, etag, xet_hash, size, mtime):
        """R/blobs/<etag> as a relative symlink into the shared store; the payload counts once per repo."""
        phys = self.cache.payload(xet_hash, size, mtime)
        self.cache.symlink(f"../../blobs/{xet_hash[:2]}/{xet_hash}", self._rel("blobs", etag))
        self.cache.payloads[xet_hash][1].append(f"{self.folder}/blobs/{etag}")
        self.blob_names.add(etag)
        self.cache.counts["blob_symlinks"] += 1
        self._content(phys)

    def snapshot_links(self, commit, files):
        """snapshots/<commit>/<path> -> ../(..)/blobs/<etag> for each (path, etag)."""
        self._revision(commit)
        for path, etag in files:
            ups = "../" * (path.count("/") + 2)
            self.cache.symlink(f"{ups}blobs/{etag}", self._rel("snapshots", commit, path))
        self.cache.counts["snapshot_symlinks"] += len(files)

    def snapshot_file(self, commit, path, size, mtime, content=None, hardlink_from=None):
        """No-symlink mode: a real file in snapshots/<commit>/; `hardlink_from=(commit, path)` makes it a hard
        link to an earlier one (as a dedup tool would), which must count once."""
        self._revision(commit)
        rel = self._rel("snapshots", commit, path)
        if hardlink_from is not None:
            phys = self.physical[hardlink_from]
            self.cache.mkdir(os.path.dirname(os.path.join(self.cache.root, rel)))
            os.link(os.path.join(self.cache.root, self._rel("snapshots", *hardlink_from)),
                    os.path.join(self.cache.root, rel))
        else:
            phys = self.cache.write_file(rel, size, mtime, content)
            self.cache.counts["content_regular_files"] += 1
        self.physical[(commit, path)] = phys
        self.snapshot_files.add((commit, path))
        self._content(phys)

    def _revision(self, commit):
        if commit not in self.commits:
            self.commits.add(commit)
            self.cache.mkdir(os.path.join(self.cache.root, self._rel("snapshots", commit)))

    def temp(self, etag, name, size, mtime, sync_part_data=0, lock="locks"):
        """A temp download file in R/blobs/ plus its lock: `.locks/<folder>/<etag>.lock` (huggingface_hub) or
        `blobs/<etag>.lock` (hf-hub 0.4). `sync_part_data` bytes are really written into a sparse .sync.part."""
        sync_part = name.endswith(".sync.part")
        data_at = (0, sync_part_data) if sync_part and sync_part_data else None
        phys = self.cache.write_file(self._rel("blobs", name), size, mtime, data_at=data_at)
        self.cache.counts["temp_files"] += 1
        self.inc_files += 1
        self.inc_bytes += phys.size
        self._add(phys)
        self.temps.append((etag, phys.size, phys.alloc, sync_part, phys.mtime))
        if lock == "locks":
            self.cache.write_file(os.path.join(".locks", self.folder, f"{etag}.lock"), 0, mtime)
        elif lock == "hf-hub":
            self.cache.write_file(self._rel("blobs", f"{etag}.lock"), 0, mtime)
        self.cache.counts["other_files"] += lock is not None

    def ref(self, name, commit):
        self.cache.write_file(self._rel("refs", name), 40, self.cache.base_time, content=commit.encode())
        self.cache.counts["other_files"] += 1

    def no_exist(self, commit, path):
        self.cache.write_file(self._rel(".no_exist", commit, path), 0, self.cache.base_time)
        self.cache.counts["other_files"] += 1

    def write_tree(self, commit, entries):
        """trees/<commit>.json (huggingface_hub >= 1.22); entries: (path, etag, size, is_lfs)."""
        files = {}
        for path, etag, size, lfs in entries:
            if lfs:
                files[path] = {"size": 134, "blob_id": etag[:40], "lfs_sha256": etag, "lfs_size": size,
                               "xet_hash": etag[::-1]}
            else:
                files[path] = {"size": size, "blob_id": etag}
        body = json.dumps({"format_version": 1, "files": files}, sort_keys=True).encode()
        self.cache.write_file(self._rel("trees", f"{commit}.json"), len(body), self.cache.base_time, content=body)
        self.cache.counts["other_files"] += 1
        self.tree = (commit, [(p, e, s) for p, e, s, _ in sorted(entries)])

    def close(self, now):
        """The expected `scan --json` figures of this repo, judged as a one-shot scan at `now`."""
        abandoned = [t for t in self.temps if now - min(t[4], now) >= ABANDON_AFTER]
        active = len(abandoned) < len(self.temps)
        expected_bytes = progress = None
        if self.tree is not None:
            expected_bytes, progress = self._progress()
        return {
            "model": self.repo_id, "repo_type": self.repo_type, "exists": True,
            "bytes": self.bytes, "allocated_bytes": self.alloc, "files": self.files,
            "incomplete_files": self.inc_files, "incomplete_bytes": self.inc_bytes,
            "revisions": len(self.commits), "last_modified": self.mtime,
            "expected_bytes": expected_bytes, "progress": progress,
            # A temp file dated in the future counts as changing now: growing, so neither stalled nor abandoned.
            "downloading": active, "stalled": False,
            "abandoned_files": len(abandoned), "abandoned_bytes": sum(t[1] for t in abandoned),
        }

    def _progress(self):
        """README "Downloads": expected = distinct blobs of the tree; done = complete ones + their temp bytes."""
        commit, entries = self.tree
        sizes = {}
        for _, etag, size in entries:
            sizes[etag] = max(sizes.get(etag, 0), size)
        temp_bytes = {}
        for etag, size, alloc, sync_part, _ in self.temps:
            temp_bytes[etag] = max(temp_bytes.get(etag, 0), alloc if sync_part else size)
        expected = done = 0
        first = set()
        for path, etag, _ in entries:
            if etag in first:
                continue
            first.add(etag)
            expected += sizes[etag]
            if etag in self.blob_names or (commit, path) in self.snapshot_files:
                done += sizes[etag]
            else:
                done += min(temp_bytes.get(etag, 0), sizes[etag])
        return expected, (1.0 if expected == 0 else min(max(done / expected, 0.0), 1.0))
