"""The station's queue keeps every confirmed read, in read order, through a SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import ROOT
from producers.station.outbox import Outbox


def test_it_gives_scans_back_in_read_order_until_acknowledged(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "q.sqlite")
    for n in range(10):
        assert outbox.put(f"e{n}", f'{{"n":{n}}}') == n + 1
    assert [q.event_id for q in outbox.oldest(4)] == ["e0", "e1", "e2", "e3"]
    outbox.acknowledge(["e0", "e2"])
    outbox.refuse({"e1": "bad_code"})
    assert [q.event_id for q in outbox.oldest(3)] == ["e3", "e4", "e5"]
    assert outbox.count() == 7 and outbox.refused() == [("e1", "bad_code", '{"n":1}')]
    outbox.put("e10", "{}")  # numbers are never reused: still last
    outbox.close()
    again = Outbox(tmp_path / "q.sqlite")
    assert [q.event_id for q in again.oldest(100)][-2:] == ["e9", "e10"]


def test_a_read_confirmed_before_a_sigkill_is_still_queued_after_it(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    writer = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from producers.station.outbox import Outbox
        outbox = Outbox(__import__("pathlib").Path({str(path)!r}))
        n = 0
        while True:
            outbox.put(f"e{{n}}", "{{}}")
            print(n, flush=True)  # confirmed to the guard only once it is on disk
            n += 1
    """)
    process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    confirmed = [int(process.stdout.readline()) for _ in range(300)]
    process.send_signal(signal.SIGKILL)
    confirmed += [int(line) for line in process.stdout.read().split()]
    process.wait(10)
    kept = [q.event_id for q in Outbox(path).oldest(100_000)]
    assert kept[:len(confirmed)] == [f"e{n}" for n in confirmed]
