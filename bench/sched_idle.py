#!/usr/bin/env python3
"""bench/sched_idle.py: how long each CPU sat idle while a command ran, from the kernel's own scheduler trace.

    sudo python3 bench/sched_idle.py [--runs N] [--timeline K] -- CMD...

A parallel scan can only be as fast as the CPUs it keeps busy. This runs CMD --runs times (after 3 untraced
warm-up runs) with ftrace recording `sched_switch`, `sched_process_fork`/`exec`/`exit` and wakeups, and prints for
each run its wall time (exec to exit of the process) and how long each CPU ran its idle task in that window.
With --timeline K it also prints run K's events (forks, exits, switches, migrations) with millisecond offsets,
which show which thread the kernel put on which CPU and when.

ftrace records in the kernel, so no tracing process competes for the CPUs the way `perf sched record` does.
Needs root (it writes /sys/kernel/tracing) and leaves the scheduler events disabled afterwards.
"""

import argparse
import os
import re
import subprocess
import sys
import time

TRACING = "/sys/kernel/tracing"
EVENTS = ["sched_switch", "sched_process_fork", "sched_process_exec", "sched_process_exit", "sched_wakeup",
          "sched_wakeup_new", "sched_migrate_task"]
LINE = re.compile(r"\[(\d+)\].*?\s(\d+\.\d+): (\w+): (.*)")


def put(name, value):
    with open(os.path.join(TRACING, name), "w") as f:
        f.write(value)


def trace(cmd, runs):
    put("tracing_on", "0")
    put("trace", "")
    put("buffer_size_kb", "16384")
    for e in EVENTS:
        put(f"events/sched/{e}/enable", "1")
    try:
        for _ in range(3):
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        put("tracing_on", "1")
        for _ in range(runs):
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
            time.sleep(0.05)
        put("tracing_on", "0")
        with open(os.path.join(TRACING, "trace")) as f:
            return f.read().splitlines()
    finally:
        put("tracing_on", "0")
        for e in EVENTS:
            put(f"events/sched/{e}/enable", "0")


def parse(lines):
    events = []
    for line in lines:
        m = LINE.search(line)
        if m:
            events.append((int(m.group(1)), float(m.group(2)), m.group(3), m.group(4)))
    return events


def field(rest, key):
    m = re.search(rf"(?:^| ){key}=(\S+)", rest)
    return m.group(1) if m else None


def windows(events, exe):
    """(start, end, pid) of each traced run: exec of `exe` to the exit of that process's main thread."""
    out, start, pid = [], None, None
    for _, t, name, rest in events:
        if name == "sched_process_exec" and os.path.realpath(field(rest, "filename") or "") == exe:
            start, pid = t, field(rest, "pid")
        elif name == "sched_process_exit" and start is not None and field(rest, "pid") == pid:
            out.append((start, t, pid))
            start = None
    return out


def idle_per_cpu(events, a, b):
    """Seconds each CPU ran its idle task (pid 0) within [a, b]."""
    current, idle = {}, {}
    for cpu, t, name, rest in events:
        if name != "sched_switch":
            continue
        nxt = field(rest, "next_pid")
        if t < a:
            current[cpu] = (nxt, t)
            continue
        if t > b:
            break
        was, since = current.get(cpu, (None, a))
        if was == "0":
            idle[cpu] = idle.get(cpu, 0.0) + t - max(since, a)
        current[cpu] = (nxt, t)
    for cpu, (was, since) in current.items():
        if was == "0":
            idle[cpu] = idle.get(cpu, 0.0) + b - max(since, a)
    return idle


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--timeline", type=int, default=0, help="print the events of this run (1-based)")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command given")
    exe = os.path.realpath(cmd[0])
    if not os.path.exists(exe):
        ap.error(f"{cmd[0]}: give the command by its path (the trace names the file executed)")
    events = parse(trace(cmd, args.runs))
    runs = windows(events, exe)
    if not runs:
        sys.exit(f"sched_idle: no traced run of {exe}")
    cpus = sorted({cpu for cpu, *_ in events})
    lost = []
    for i, (a, b, _) in enumerate(runs, 1):
        idle = idle_per_cpu(events, a, b)
        per = "  ".join(f"cpu{c} {idle.get(c, 0.0) * 1e3:5.1f}" for c in cpus)
        total = sum(idle.values()) * 1e3
        lost.append(total)
        print(f"run {i:2d}  wall {(b - a) * 1e3:6.1f} ms  idle ms: {per}  total {total:5.1f}")
    lost.sort()
    print(f"median idle CPU time per run: {lost[len(lost) // 2]:.1f} ms over {len(runs)} runs")
    if args.timeline:
        a, b, _ = runs[args.timeline - 1]
        for cpu, t, name, rest in events:
            if a <= t <= b and "rcu_" not in rest:
                print(f"{(t - a) * 1e3:7.2f} cpu{cpu} {name:<20} {rest[:120]}")


if __name__ == "__main__":
    main()
