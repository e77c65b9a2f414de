"""The seam with mode, Faust's process runner: the worker's stop deadline hangs on the one
method mode calls for SIGINT and SIGTERM. This fails if an upgrade renames it."""

from __future__ import annotations

import inspect
import subprocess
import sys
import time

from mode.worker import Worker as ModeWorker

from pipeline.stream.faust_seam import FaustProcess


def test_mode_still_schedules_its_shutdown_on_sigterm_where_the_deadline_hangs() -> None:
    assert "_schedule_shutdown" in vars(ModeWorker)
    assert list(inspect.signature(ModeWorker._schedule_shutdown).parameters) == ["self", "signal"]
    assert "self._on_sigterm" in inspect.getsource(ModeWorker._install_signal_handlers_unix)
    assert "self._schedule_shutdown(signal.SIGTERM)" in inspect.getsource(ModeWorker._on_sigterm)
    assert "_schedule_shutdown" in vars(FaustProcess)


def test_a_process_that_does_not_stop_in_time_exits_with_the_code_given() -> None:
    code = ("import time; from pipeline.stream.stopping import exit_unless_stopped; "
            "exit_unless_stopped(0.5, 7, 'the test'); time.sleep(30)")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert result.returncode == 7 and time.monotonic() - started < 10
