"""How the worker process stops: within `STOP_GRACE_SECONDS` of SIGTERM, or of a fatal error.

Faust's stop waits for every event taken from Kafka to be acknowledged (so that a
rebalance never hands over a partition mid-batch). A batch that will never be
acknowledged (it failed, or a broker no longer answers) makes that wait endless: the
worker was seen ignoring SIGTERM for minutes. So a stop that has not ended in time exits
the process hard. That loses nothing: Faust commits an offset only once its event was
acknowledged, and the worker acknowledges an event only after everything it produced was
sent; what was not committed is processed again at the next start, as after SIGKILL.

`faust_seam.FaustProcess` arms `exit_unless_stopped` from the one method mode (Faust's
process runner) calls on SIGINT and SIGTERM.
"""

from __future__ import annotations

import logging
import os
import threading


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
