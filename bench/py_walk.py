#!/usr/bin/env python3
"""The Python pattern the exporter replaces, written faithfully: per repo folder, os.walk its blobs/ and
snapshots/, skip os.path.islink, sum os.path.getsize, count *.incomplete. Prints one JSON object per repo.

    py_walk.py CACHE_ROOT
"""

import json
import os
import sys


def repo_totals(repo):
    total = 0
    incomplete = 0
    for sub in ("blobs", "snapshots"):
        for dirpath, _dirnames, filenames in os.walk(os.path.join(repo, sub)):
            for name in filenames:
                path = os.path.join(dirpath, name)
                if os.path.islink(path):
                    continue
                total += os.path.getsize(path)
                if name.endswith(".incomplete"):
                    incomplete += 1
    return total, incomplete


def main(root):
    for name in sorted(os.listdir(root)):
        repo = os.path.join(root, name)
        if "--" not in name or not os.path.isdir(repo):
            continue
        total, incomplete = repo_totals(repo)
        print(json.dumps({"folder": name, "total_size": total, "incomplete_count": incomplete,
                          "downloading": incomplete > 0}))


if __name__ == "__main__":
    main(sys.argv[1])
