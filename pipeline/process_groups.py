"""Process groups, read from /proc (Linux): who is still in one, and stopping all of it.

The embedded stack starts each service in a session (and so a process group) of its own;
stopping a service means stopping its whole group, since a service may have started
processes of its own that outlive it (a child it forked, a helper it spawned).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    state: str  # R, S, D, Z (zombie), T, ...
    ppid: int
    pgid: int
    sid: int
    started: int  # clock ticks after boot: with the pid, names one process even if the pid is reused


def read_process(pid: int) -> ProcessInfo | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The name (field 2) is in parentheses and may hold anything: split after the last one.
    fields = stat.rsplit(")", 1)[1].split()
    return ProcessInfo(pid, fields[0], int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19]))


def processes() -> list[ProcessInfo]:
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            info = read_process(int(entry.name))
            if info is not None and info.state != "Z":
                found.append(info)
    return found


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of group ``pgid``."""
    return [p.pid for p in processes() if p.pgid == pgid]


def descendants(pid: int) -> list[ProcessInfo]:
    """Every live process below ``pid`` (children, their children, ...)."""
    table = processes()
    below, frontier = [], {pid}
    while frontier:
        children = [p for p in table if p.ppid in frontier]
        below += children
        frontier = {p.pid for p in children}
    return below


def stop_group(pgid: int, grace: float, reap: Callable[[], object] = lambda: None) -> bool:
    """SIGTERM to the group, SIGKILL to what is left of it after ``grace`` seconds; returns
    once the group is empty (or 10 s after SIGKILL). ``reap`` is called while waiting (e.g.
    the leader's `Popen.poll`, so that our own child does not linger as a zombie). True if
    SIGKILL was needed."""
    if not _signal(pgid, signal.SIGTERM):
        return False
    if _wait_empty(pgid, grace, reap):
        return False
    _signal(pgid, signal.SIGKILL)
    _wait_empty(pgid, 10.0, reap)
    return True


def _signal(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def _wait_empty(pgid: int, timeout: float, reap: Callable[[], object]) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        reap()
        if not group_members(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
