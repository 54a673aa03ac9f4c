#!/usr/bin/env python3
"""huggingface_hub's own cache scan (`scan_cache_dir`, what `hf cache ls` uses): per-repo size_on_disk.
Run with the bench venv's python (bench/setup.sh installs huggingface_hub from PyPI there).

    py_scan_cache_dir.py CACHE_ROOT
"""

import json
import sys

from huggingface_hub import scan_cache_dir


def main(root):
    info = scan_cache_dir(root)
    for repo in sorted(info.repos, key=lambda r: str(r.repo_path)):
        print(json.dumps({"repo_id": repo.repo_id, "repo_type": repo.repo_type, "size_on_disk": repo.size_on_disk,
                          "nb_files": repo.nb_files}))
    print(json.dumps({"warnings": len(info.warnings)}), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
