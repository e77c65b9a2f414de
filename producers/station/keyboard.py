"""Reading a USB QR reader straight from its Linux input device (/dev/input/eventN or
/dev/input/by-id/...-event-kbd), instead of from the terminal it types into.

The reader is a keyboard: it sends key presses with Shift for capitals and Enter at the
end of a code. This module turns the kernel's `struct input_event` records into lines,
as a US keyboard would type them, so the station does not need the terminal to have the
focus. The device is grabbed (EVIOCGRAB) so its key presses do not also reach the
console. Needs read access to the device (root, or the `input` group); Linux only.
"""

from __future__ import annotations

import fcntl
import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

EVENT = struct.Struct("llHHi")  # struct input_event: timeval (2 longs), type, code, value
EV_KEY = 1
EVIOCGRAB = 0x40044590  # _IOW('E', 0x90, int)
PRESS, REPEAT = 1, 2
KEY_ENTER, KEY_KPENTER, KEY_CAPSLOCK = 28, 96, 58
SHIFTS = {42, 54}
# Linux key codes -> (unshifted, shifted) on a US layout: what a reader types.
_ROWS = {2: "1234567890-=", 16: "qwertyuiop[]", 30: "asdfghjkl;'`", 44: "zxcvbnm,./"}
_SHIFTED = {2: "!@#$%^&*()_+", 16: "QWERTYUIOP{}", 30: 'ASDFGHJKL:"~', 44: "ZXCVBNM<>?"}
KEYMAP: dict[int, tuple[str, str]] = {57: (" ", " "), 43: ("\\", "|")}
for first, chars in _ROWS.items():
    for i, char in enumerate(chars):
        KEYMAP[first + i] = (char, _SHIFTED[first][i])


class KeyDecoder:
    """Key events in, typed lines out. Caps Lock is followed, so a reader behind a
    Caps-Locked keyboard types lower case, as it would in a terminal (and the check
    then says `lowercase`)."""

    def __init__(self) -> None:
        self._shift: set[int] = set()
        self._caps = False
        self._line: list[str] = []

    def feed(self, type_: int, code: int, value: int) -> str | None:
        if type_ != EV_KEY:
            return None
        if code in SHIFTS:
            (self._shift.add if value else self._shift.discard)(code)
            return None
        if value not in (PRESS, REPEAT):
            return None
        if code == KEY_CAPSLOCK and value == PRESS:
            self._caps = not self._caps
            return None
        if code in (KEY_ENTER, KEY_KPENTER):
            line, self._line = "".join(self._line), []
            return line
        chars = KEYMAP.get(code)
        if chars is None:
            return None
        char = chars[bool(self._shift)]
        if self._caps and char.isalpha():
            char = char.swapcase()
        self._line.append(char)
        return None


def read_events(stream: BinaryIO) -> Iterator[tuple[int, int, int]]:
    """(type, code, value) of each event until the stream ends."""
    while True:
        data = stream.read(EVENT.size)
        if len(data) < EVENT.size:
            return
        _sec, _usec, type_, code, value = EVENT.unpack(data)
        yield type_, code, value


def device_lines(path: Path) -> Iterator[str]:
    """Lines typed by the reader at ``path``; grabs a real input device first."""
    fd = os.open(path, os.O_RDONLY)
    with os.fdopen(fd, "rb", buffering=0) as stream:
        if stat.S_ISCHR(os.fstat(fd).st_mode):
            fcntl.ioctl(fd, EVIOCGRAB, 1)
        decoder = KeyDecoder()
        for event in read_events(stream):
            line = decoder.feed(*event)
            if line is not None:
                yield line
