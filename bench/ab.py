#!/usr/bin/env python3
"""bench/ab.py: interleaved A/B timing of whole commands, for changes smaller than this machine's drift.

hyperfine runs all of one command's runs, then all of the next one's; on a shared VM whose speed drifts by
10-25 % over minutes, that drift lands in the ratio. Here every round runs each command once, in alternating
order, and the medians are compared, so drift hits every command alike.

    python3 bench/ab.py [--rounds N] [--gap SECONDS] [--export-json FILE] -- CMD_A... -- CMD_B... [-- CMD_C...]

--export-json writes each command's median and run times (seconds), in the order given, for scripts.

Each line also gives the median CPU time (user + system, from the child's rusage). It moves less with the
scheduler than wall time does, so it shows work saved that the wall-clock median cannot resolve.

--gap sleeps between runs. Use it for commands whose cost depends on what ran just before: reading
/proc/locks waits for a kernel RCU grace period unless something read it a moment earlier, so back-to-back
runs of a scan that reads it hide that wait (8-20 ms here) and spaced runs show it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def main():
    # The docstring is the help text, not a usage format: its "%" signs are not placeholders.
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--gap", type=float, default=0.0)
    ap.add_argument("--export-json")
    ap.add_argument("cmds", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    words = args.cmds[1:] if args.cmds[:1] == ["--"] else args.cmds
    cmds, cur = [], []
    for w in words:
        if w == "--":
            cmds.append(cur)
            cur = []
        else:
            cur.append(w)
    cmds.append(cur)
    cmds = [c for c in cmds if c]
    if len(cmds) < 2:
        sys.exit("ab.py: give at least two commands separated by --")
    with open(os.devnull, "w") as null:
        def run(cmd):
            t = time.perf_counter()
            child = subprocess.Popen(cmd, stdout=null)
            _, status, usage = os.wait4(child.pid, 0)
            elapsed = time.perf_counter() - t
            child.returncode = rc = os.waitstatus_to_exitcode(status)
            if rc != 0:
                sys.exit(f"ab.py: {' '.join(cmd)} exited with {rc}")
            return elapsed, usage.ru_utime + usage.ru_stime

        for c in cmds:
            for _ in range(args.warmup):
                run(c)
        times = [[] for _ in cmds]
        cpus = [[] for _ in cmds]
        for r in range(args.rounds):
            order = range(len(cmds)) if r % 2 == 0 else reversed(range(len(cmds)))
            for i in order:
                if args.gap:
                    time.sleep(args.gap)
                elapsed, cpu = run(cmds[i])
                times[i].append(elapsed)
                cpus[i].append(cpu)
    base = statistics.median(times[0])
    if args.export_json:
        with open(args.export_json, "w") as f:
            json.dump({"results": [{"command": " ".join(c), "median": statistics.median(t), "times": t,
                                    "cpu_median": statistics.median(u), "cpu_times": u}
                                   for c, t, u in zip(cmds, times, cpus)]}, f)
    for c, t, u in zip(cmds, times, cpus):
        t.sort()
        med = statistics.median(t)
        print(f"median {med * 1e3:9.2f} ms  p25 {t[len(t) // 4] * 1e3:9.2f}  min {t[0] * 1e3:9.2f}  "
              f"ratio {med / base:5.2f}  cpu {statistics.median(u) * 1e3:8.1f} ms  {' '.join(c)}")


if __name__ == "__main__":
    main()
