#!/usr/bin/env python3
"""strace_check.py: find syscalls in an strace log that could change anything under given roots.

    strace_check.py --root DIR [--root DIR...] [--cwd DIR] [--expect-touches N] LOG

LOG comes from `strace -f -y -qq -e trace=%file,%desc -o LOG ...` (`-y` prints the path behind every fd
argument, so dirfd-relative and fd-only calls can be placed). A violation is:
  * open/openat/openat2/creat of a path under a root with O_WRONLY, O_RDWR, O_CREAT or O_TRUNC (creat always);
  * any mutating call on a path or fd under a root: unlink*, rename*, mkdir*, rmdir, chmod*, chown*, truncate,
    ftruncate, utime*, futimesat, setxattr/removexattr and their l/f forms, link*, symlink*, mknod*, flock,
    fcntl F_SETLK/F_SETLKW/F_OFD_SETLK/F_OFD_SETLKW, fallocate, write/pwrite*/writev on an fd under a root.
Prints each violation and a summary line `touches=N violations=M` (touches: calls that named a path under a
root at all, so a log that never saw the cache cannot pass). Exit 1 on violations, or when touches < N.
"""

import argparse
import os
import re
import sys

MUTATING = {
    "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir",
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "truncate", "ftruncate", "utime", "utimes", "utimensat", "futimesat",
    "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat", "flock", "fallocate",
    "write", "pwrite64", "writev", "pwritev", "pwritev2",
}
OPENS = {"open", "openat", "openat2", "creat"}
# Calls whose string arguments are data, not paths (only their fd says where they act).
DATA = {"read", "pread64", "readv", "preadv", "preadv2", "write", "pwrite64", "writev", "pwritev", "pwritev2",
        "sendto", "recvfrom", "sendmsg", "recvmsg"}
WRITE_FLAGS = re.compile(r"\bO_(WRONLY|RDWR|CREAT|TRUNC)\b")
LOCK_CMDS = re.compile(r"\bF_(OFD_)?SETLKW?\b")
# `PID name(args` up to `) = ret`, `<unfinished ...>` or end of line.
CALL = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+([a-z_0-9]+)\((.*)$")
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
FD_PATH = re.compile(r"\b-?\d+<([^>]*)>")


def unescape(s):
    """strace escapes non-printables as \\xNN / \\NNN and quotes as \\"; good enough for prefix checks."""
    return s.encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")


def split_args(rest):
    """The text between the call's parentheses (or to the end of an unfinished line)."""
    for end in (") = ", ") ", " <unfinished"):
        i = rest.rfind(end)
        if i >= 0:
            return rest[:i]
    return rest


def paths_of(name, args, cwd):
    """Absolute paths the call refers to: string arguments (resolved against a dirfd or cwd) and fd paths."""
    out = []
    fds = FD_PATH.findall(args)
    strings = [] if name in DATA else [unescape(s) for s in STRING.findall(args)]
    base = cwd
    first = args.split(",", 1)[0].strip()
    at_cwd = re.match(r"AT_FDCWD<([^>]*)>", first)
    if at_cwd:
        base = at_cwd.group(1)
    elif fds and first.endswith(">") and not first.startswith("AT_FDCWD"):
        base = fds[0]
    for s in strings:
        if s.startswith("/"):
            out.append(os.path.normpath(s))
        elif s and name not in ("symlink", "symlinkat"):
            out.append(os.path.normpath(os.path.join(base, s)))
    if name in ("symlink", "symlinkat") and strings:
        # symlink(target, linkpath): only where the link is made matters.
        last = strings[-1]
        out = [os.path.normpath(last if last.startswith("/") else os.path.join(base, last))]
    out.extend(os.path.normpath(p) for p in fds)
    return out


def under(path, roots):
    return any(path == r or path.startswith(r + "/") for r in roots)


def check(lines, roots, cwd):
    roots = [os.path.normpath(r) for r in roots]
    touches, violations = 0, []
    # Each process's working directory, for plain relative paths (`mkdir("x")`): strace -y shows it as
    # AT_FDCWD<dir> on the *at calls a process makes anyway (the loader's first openat, at the latest).
    cwds = {}
    for line in lines:
        m = CALL.match(line.strip())
        if not m:
            continue
        pid, name, rest = m.groups()
        args = split_args(rest)
        at_cwd = re.search(r"AT_FDCWD<([^>]*)>", args)
        if at_cwd:
            cwds[pid] = at_cwd.group(1)
        here = cwds.get(pid, cwd)
        if name in ("chdir", "fchdir") and re.search(r"\) = 0$", rest.strip()):
            target = paths_of(name, args, here)
            if target:
                cwds[pid] = target[0]
        hit = [p for p in paths_of(name, args, here) if under(p, roots)]
        if not hit:
            continue
        touches += 1
        why = None
        if name in OPENS and (name == "creat" or WRITE_FLAGS.search(args)):
            why = "opened for writing"
        elif name in MUTATING:
            why = "mutating call"
        elif name == "fcntl" and LOCK_CMDS.search(args):
            why = "lock"
        if why:
            violations.append(f"{why}: {line.strip()}")
    return touches, violations


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", action="append", required=True)
    ap.add_argument("--cwd", default=os.getcwd())
    ap.add_argument("--expect-touches", type=int, default=1)
    ap.add_argument("log")
    a = ap.parse_args()
    with open(a.log, encoding="utf-8", errors="replace") as f:
        touches, violations = check(f, a.root, a.cwd)
    for v in violations[:50]:
        print(v)
    print(f"touches={touches} violations={len(violations)}")
    if touches < a.expect_touches:
        print(f"only {touches} calls named a root; expected at least {a.expect_touches}", file=sys.stderr)
        return 1
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
