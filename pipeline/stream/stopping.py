"""How the worker process stops: within `STOP_GRACE_SECONDS` of SIGTERM, or of a fatal error.

Faust's stop waits for every event taken from Kafka to be acknowledged (so that a
rebalance never hands over a partition mid-batch). A batch that will never be
acknowledged (it failed, or a broker no longer answers) makes that wait endless: the
worker was seen ignoring SIGTERM for minutes. So a stop that has not ended in time exits
the process hard. That loses nothing: Faust commits an offset only once its event was
acknowledged, and the worker acknowledges an event only after everything it produced was
sent; what was not committed is processed again at the next start, as after SIGKILL.

This module is the seam with `mode` (Faust's process runner): `FaustProcess` overrides
`_schedule_shutdown`, the one method mode calls on SIGINT and SIGTERM
(tests/test_stream_stopping.py fails if it goes away).
"""

from __future__ import annotations

import logging
import os
import threading

from faust.worker import Worker as FaustWorker

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 8.0  # every service stops within 10 s of SIGTERM
EXIT_STOPPED_HARD = 0  # asked to stop, and stopped with nothing lost


def exit_unless_stopped(seconds: float, code: int, why: str) -> None:
    """Exit the process with ``code`` if it is still running ``seconds`` from now."""

    def exit_now() -> None:
        log.warning("%s did not end within %.0f s: exiting now; what was not acknowledged is processed again "
                    "at the next start", why, seconds)
        logging.shutdown()
        os._exit(code)

    timer = threading.Timer(seconds, exit_now)
    timer.daemon = True  # must not itself keep the process alive
    timer.start()


class FaustProcess(FaustWorker):
    """Faust's worker as `ravao worker` runs it: quiet, and stopping in time."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        # Faust's terminal spinner sets the root logger to DEBUG so that it spins on
        # every record: each message sent then builds a debug record holding its
        # key and value. Keep the level asked for, and no spinner.
        self.spinner = None
        logger.setLevel(level)

    def _schedule_shutdown(self, signal) -> None:  # mode's handler of SIGINT and SIGTERM
        exit_unless_stopped(STOP_GRACE_SECONDS, EXIT_STOPPED_HARD, f"the stop asked by {signal.name}")
        super()._schedule_shutdown(signal)
