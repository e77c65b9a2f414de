"""Stops the worker when most of what it reads is rejected: a sign of a bad deploy (a
wrong key, an empty registry), not of bad input. Bad input alone never stops it."""

from __future__ import annotations

from collections import deque


class TooManyRejects(RuntimeError):
    pass


class RejectRateGuard:
    """Over the last ``window`` messages, at most ``max_ratio`` may be rejected. Nothing
    is decided before the window has filled once, so a few bad scans at start are fine."""

    def __init__(self, window: int = 2000, max_ratio: float = 0.5) -> None:
        if window < 1 or not 0 < max_ratio <= 1:
            raise ValueError("window must be positive and max_ratio in (0, 1]")
        self.window = window
        self.max_ratio = max_ratio
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._rejected = 0

    def record(self, rejected: bool) -> None:
        if len(self._outcomes) == self.window and self._outcomes[0]:
            self._rejected -= 1
        self._outcomes.append(rejected)
        self._rejected += rejected
        if len(self._outcomes) == self.window and self._rejected > self.max_ratio * self.window:
            raise TooManyRejects(
                f"{self._rejected} of the last {self.window} scans were rejected (more than "
                f"{self.max_ratio:.0%}): check RAVAO_QR_KEYS and that the registry topics are loaded; "
                "see `ravao stats` and scans.dlq for the reasons"
            )
