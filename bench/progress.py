"""The benchmarks' one progress display, so that no phase runs for minutes without a word.

On a terminal: a `rich` progress bar (a pulsing one for a phase of unknown length). Off a
terminal (a pipe, CI), where a bar would print nothing until the end: plain lines, one
when a task starts and one when it ends, and in between one per running task at most
every ``every`` seconds.

    with progress() as bar:
        task = bar.add_task("generating 10,000,000 visits", total=40)
        bar.advance(task)

    with phase("one worker: raw scans in, visits out"):
        ...
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

PLAIN_EVERY = 5.0  # seconds between a running task's plain lines


@dataclass
class _Task:
    description: str
    total: float | None
    started: float
    completed: float = 0
    done: bool = False


class PlainProgress:
    """The part of rich's `Progress` the benchmarks use (add_task, update, advance, as a
    context manager), written as plain lines. A thread writes the lines of tasks that run
    without updates; ``clock`` decides when a line is due (tests pass their own)."""

    def __init__(self, out: TextIO, every: float = PLAIN_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.out, self.every, self.clock = out, every, clock
        self.tasks: dict[int, _Task] = {}
        self._last_line = clock()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="bench-progress", daemon=True)

    def __enter__(self) -> PlainProgress:
        self._ticker.start()
        return self

    def __exit__(self, kind, *exc) -> None:
        self._stopped.set()
        self._ticker.join()
        with self._lock:
            for task in self.tasks.values():
                if not task.done:
                    self._finish(task, "done in" if kind is None else "stopped after")

    def add_task(self, description: str, total: float | None = None, **_) -> int:
        with self._lock:
            task_id = len(self.tasks)
            task = self.tasks[task_id] = _Task(description, total, self.clock())
            self._write(f"{task.description}: started" + (f" (0/{task.total:,.0f})" if task.total else ""))
            return task_id

    def update(self, task_id: int, *, advance: float | None = None, completed: float | None = None,
               description: str | None = None, total: float | None = None, **_) -> None:
        with self._lock:
            task = self.tasks[task_id]
            task.description = description if description is not None else task.description
            task.total = total if total is not None else task.total
            task.completed = completed if completed is not None else task.completed + (advance or 0)
            if task.total is not None and task.completed >= task.total and not task.done:
                self._finish(task)
            else:
                self._lines_if_due()

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def _tick(self) -> None:
        while not self._stopped.wait(self.every):
            with self._lock:
                self._lines_if_due()

    def _lines_if_due(self) -> None:
        if self.clock() - self._last_line < self.every:
            return
        for task in self.tasks.values():
            if not task.done:
                share = f" {task.completed:,.0f}/{task.total:,.0f} ({task.completed / task.total:.0%})" \
                    if task.total else ""
                self._write(f"{task.description}:{share} {self._elapsed(task)}")

    def _finish(self, task: _Task, how: str = "done in") -> None:
        task.done = True
        self._write(f"{task.description}: {how} {self._elapsed(task)}")

    def _elapsed(self, task: _Task) -> str:
        seconds = int(self.clock() - task.started)
        return f"{seconds // 3600}:{seconds // 60 % 60:02}:{seconds % 60:02}"

    def _write(self, line: str) -> None:
        self._last_line = self.clock()
        self.out.write(line + "\n")
        self.out.flush()


def progress(out: TextIO | None = None, *, every: float = PLAIN_EVERY,
             clock: Callable[[], float] = time.monotonic) -> Progress | PlainProgress:
    """A bar on ``out`` (standard error by default) if it is a terminal, else plain lines."""
    console = Console(file=out or sys.stderr)
    if console.is_terminal:
        return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console)
    return PlainProgress(console.file, every, clock)


@contextmanager
def phase(description: str, out: TextIO | None = None) -> Iterator[None]:
    """One step of unknown length: a pulsing bar, or its plain lines, while it runs."""
    with progress(out) as bar:
        task = bar.add_task(description, total=None)
        yield
        bar.update(task, total=1, completed=1)
