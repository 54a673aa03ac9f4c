#!/usr/bin/env python3
"""simple_cache.py OUT REPOS FILES_PER_REPO: a deterministic symlinked hub cache for the server benchmarks.

Each repo `models--bench--mNNNN` gets FILES_PER_REPO sparse blobs (1 KiB .. 1 MiB apparent, no disk used) linked
from `snapshots/<rev>/dN/fNNNN`, and `refs/main`. Prints `repos files bytes` (the expected totals) on stdout.
The fuller generator for the scan benchmarks is bench/gen_cache.py when it exists; this one only has to be big
enough that a walk takes a while.
"""
import hashlib
import os
import sys


def main():
    out, repos, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rev = "a" * 40
    total = 0
    for r in range(repos):
        repo = os.path.join(out, f"models--bench--m{r:04d}")
        blobs = os.path.join(repo, "blobs")
        os.makedirs(blobs, exist_ok=True)
        os.makedirs(os.path.join(repo, "refs"), exist_ok=True)
        with open(os.path.join(repo, "refs", "main"), "w") as f:
            f.write(rev)
        for j in range(per):
            etag = hashlib.sha256(f"{r}/{j}".encode()).hexdigest()
            size = 1024 << (j % 11)
            with open(os.path.join(blobs, etag), "wb") as f:
                f.truncate(size)
            total += size
            link = os.path.join(repo, "snapshots", rev, f"d{j % 16}", f"f{j:04d}")
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(f"../../../blobs/{etag}", link)
    print(repos, repos * per, total)


if __name__ == "__main__":
    main()
