"""The benchmarks' phases say how far they are: a rich bar on a terminal, plain lines at
most every few seconds in a pipe or CI (bench/progress.py)."""

from __future__ import annotations

import io
import itertools
from datetime import datetime, timezone
from pathlib import Path

from rich.progress import Progress

from bench.progress import PlainProgress, phase, progress
from bench.warehouse import generated_month
from pipeline.warehouse.client import chdb_url
from pipeline.warehouse.opened import open_url


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def clock(step: float):
    """A clock that moves ``step`` seconds each time it is read."""
    ticks = itertools.count(0, step)
    return lambda: next(ticks)


def test_the_warehouse_generation_reports_progress_when_its_output_is_not_a_terminal(tmp_path: Path) -> None:
    out = io.StringIO()
    warehouse = open_url(chdb_url(tmp_path / "warehouse"))
    try:
        with progress(out, clock=clock(10.0)) as bar:
            assert isinstance(bar, PlainProgress)
            figures, _step = generated_month(warehouse, 2000, 2, datetime.now(timezone.utc), bar)
    finally:
        warehouse.close()
    lines = out.getvalue().splitlines()
    assert figures["generate_s"] >= 0
    assert lines[0].startswith("generating 2,000 visits: started (0/")
    assert any("%)" in line for line in lines[1:-1]), lines  # how far, on the way
    assert lines[-1].startswith("generating 2,000 visits: merging ") and " done in " in lines[-1]


def test_plain_lines_come_at_most_every_few_seconds() -> None:
    """Counted on a clock of its own (a tenth of a second each time it is read), not timed:
    the lines on the way are no more than one per 5 s of that clock, and there are some."""
    out = io.StringIO()
    reads = itertools.count(1)
    read = []

    def counted() -> float:
        read.append(next(reads))
        return read[-1] * 0.1

    with PlainProgress(out, every=5.0, clock=counted) as bar:
        task = bar.add_task("many small steps", total=1000)
        for _ in range(1000):
            bar.advance(task)
    lines = out.getvalue().splitlines()
    assert lines[0] == "many small steps: started (0/1,000)" and " done in " in lines[-1]
    on_the_way = lines[1:-1]
    assert 2 <= len(on_the_way) <= len(read) * 0.1 / 5 + 1, (len(on_the_way), len(read))


def test_a_phase_of_unknown_length_says_when_it_starts_and_ends() -> None:
    out = io.StringIO()
    with phase("the sink opens its door", out):
        pass
    assert out.getvalue().splitlines() == ["the sink opens its door: started", "the sink opens its door: done in 0:00:00"]


def test_a_failed_phase_says_it_stopped() -> None:
    out = io.StringIO()
    try:
        with phase("a phase that fails", out):
            raise RuntimeError("no")
    except RuntimeError:
        pass
    assert out.getvalue().splitlines()[-1].startswith("a phase that fails: stopped after")


def test_on_a_terminal_it_is_a_rich_bar() -> None:
    assert isinstance(progress(Terminal()), Progress)
