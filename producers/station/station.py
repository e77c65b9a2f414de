"""The station: each line the reader types is checked, queued durably, confirmed to the
guard, and left to the sender.

The guard hears one bell and sees OK only after the scan is on disk; a refused line
gets three bells and the reason, and is never queued or sent. Once the gateway accepted a
scan, a second line shows the person's health declaration status at the scan time, a word
and a colour (in colour on a terminal), never the answers. When the input ends
(a file piped in, or the reader's device unplugged) the station sends what is left and
stops; interrupted, it keeps the queue for the next start.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TextIO

from schemas.registry import GateMode
from schemas.scans import Direction

from .check import CodeCheck, CodeChecker
from .outbox import Outbox
from .sender import Sender

log = logging.getLogger(__name__)

DIRECTIONS = {GateMode.entry: Direction.entry, GateMode.exit: Direction.exit, GateMode.auto: Direction.auto}
BELL = "\a"
ANSI = {"grey": "\033[90m", "green": "\033[32m", "amber": "\033[33m", "red": "\033[31m"}
RESET = "\033[0m"


class Station:
    def __init__(self, *, device_id: str, mode: GateMode, checker: CodeChecker, outbox: Outbox,
                 sender: Sender, out: TextIO, output: str = "text", beep: bool = True) -> None:
        self.device_id = device_id
        self.direction = DIRECTIONS[mode]
        self.checker = checker
        self.outbox = outbox
        self.sender = sender
        self.out = out
        self.json_output = output == "json"
        self.beep = beep
        self.accepted = 0
        self.refused = 0
        self._printing = threading.Lock()  # the sender thread prints the gateway's answers too
        self._colour = getattr(out, "isatty", lambda: False)()
        sender.on_accepted = self._show_declarations

    def read(self, line: str) -> CodeCheck:
        """One line from the reader: check it; if genuine, queue it (durably) first, then
        confirm it to the guard."""
        if not line.strip():
            return CodeCheck(False, None, None, None, "empty line")
        result = self.checker.check(line)
        if not result.ok:
            self.refused += 1
            self._show_refused(result)
            return result
        scanned_at = datetime.now(timezone.utc)
        event_id = str(uuid.uuid4())
        body = {"event_id": event_id, "person_qr": result.code, "direction": self.direction.value,
                "scanned_at": scanned_at.isoformat()}
        waiting = self.outbox.put(event_id, json.dumps(body, separators=(",", ":")))
        self.sender.wake()
        self.accepted += 1
        self._show_ok(result, event_id, scanned_at, waiting)
        return result

    def run(self, lines: Iterable[str], drain: bool = True) -> int:
        """Read until the input ends; then, with ``drain``, wait until the queue is sent.
        Returns the number of scans still queued."""
        self.sender.start()
        for line in lines:
            self.read(line)
        left = self.outbox.count()
        if drain and left:
            log.info("input ended; sending the %d scan(s) still queued (Ctrl-C keeps them for the next start)", left)
            self.sender.wait_until_empty()
        return self.outbox.count()

    # --- what the guard sees and hears ----------------------------------------------------
    def _show_ok(self, result: CodeCheck, event_id: str, scanned_at: datetime, waiting: int) -> None:
        if self.json_output:
            line = json.dumps({"ok": True, "event_id": event_id, "person_id": result.person_id,
                               "direction": self.direction.value, "scanned_at": scanned_at.isoformat(),
                               "queued": waiting})
        else:
            local = scanned_at.astimezone().strftime("%H:%M:%S")
            pending = f"   ({waiting} waiting to be sent)" if waiting > 1 else ""
            line = f"{BELL if self.beep else ''}OK  {self.direction.value:<4} {local}  …{result.person_id[-4:]}{pending}"
        self._print(line)

    def _show_declarations(self, answered) -> None:
        """Each accepted scan's declaration status, from the gateway's answer (sender thread)."""
        for queued, (status, colour) in answered:
            person_id = self.checker.check(json.loads(queued.body)["person_qr"]).person_id or ""
            if self.json_output:
                line = json.dumps({"ok": True, "event_id": queued.event_id, "person_id": person_id,
                                   "declaration": status, "colour": colour})
            else:
                word = f"{status} ({colour})"
                if self._colour and colour in ANSI:
                    word = f"{ANSI[colour]}{word}{RESET}"
                line = f"    …{person_id[-4:]}  khai báo y tế / declaration: {word}"
            self._print(line)

    def _print(self, line: str) -> None:
        with self._printing:
            print(line, file=self.out, flush=True)

    def _show_refused(self, result: CodeCheck) -> None:
        if self.json_output:
            line = json.dumps({"ok": False, "reason": result.reason.value, "message": result.message})
        else:
            line = f"{BELL * 3 if self.beep else ''}REFUSED {result.reason.value}: {result.message}"
        self._print(line)
