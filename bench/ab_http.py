#!/usr/bin/env python3
"""bench/ab_http.py: interleaved A/B latency of one HTTP endpoint served by two exporter commands.

Each command is started on its own loopback port (`--web.listen-address 127.0.0.1:<free port>` is appended),
waited for at /readyz, then every round GETs PATH once from each server, in alternating order, one request at a
time, so the machine's drift hits both alike (see bench/ab.py). Prints median, p25 and min per command, the
ratio of medians, and whether the last bodies were equal (JSON bodies compared as data).

    python3 bench/ab_http.py [--rounds N] [--path PATH] -- CMD_A... -- CMD_B...

Example (the root view of /download_progress, old binary against new, medium cache):

    python3 bench/ab_http.py --path /download_progress -- OLD --cache.dir HUB -- NEW --cache.dir HUB
"""

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request


def free_ports(n):
    """n distinct free loopback ports (all held open while choosing, so none repeats)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def get(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read()


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--rounds", type=int, default=25)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--path", default="/download_progress")
    ap.add_argument("cmds", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmds, cur = [], []
    for w in args.cmds[1:] if args.cmds[:1] == ["--"] else args.cmds:
        if w == "--":
            cmds.append(cur)
            cur = []
        else:
            cur.append(w)
    cmds = [c for c in cmds + [cur] if c]
    if len(cmds) != 2:
        sys.exit("ab_http.py: give two commands separated by --")
    procs, urls = [], []
    try:
        for c, port in zip(cmds, free_ports(len(cmds))):
            cmd = c + ["--web.listen-address", f"127.0.0.1:{port}", "--log.level", "error"]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL))
            urls.append(f"http://127.0.0.1:{port}")
        for u in urls:
            for _ in range(200):
                try:
                    get(u + "/readyz")
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                sys.exit(f"ab_http.py: {u} did not become ready")
        times = [[], []]
        bodies = [b"", b""]
        for r in range(args.warmup + args.rounds):
            for i in (0, 1) if r % 2 else (1, 0):
                t = time.perf_counter()
                bodies[i] = get(urls[i] + args.path)
                if r >= args.warmup:
                    times[i].append(time.perf_counter() - t)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
    base = statistics.median(times[0])
    for c, ts in zip(cmds, times):
        q = statistics.quantiles(ts, n=4)
        print(f"median {statistics.median(ts) * 1e3:8.2f} ms  p25 {q[0] * 1e3:8.2f}  min {min(ts) * 1e3:8.2f}"
              f"  ratio {statistics.median(ts) / base:5.2f}  {' '.join(c)}")
    try:
        same = json.loads(bodies[0]) == json.loads(bodies[1])
    except ValueError:
        same = bodies[0] == bodies[1]
    print("last bodies equal:", same)


if __name__ == "__main__":
    main()
