"""Reading the USB reader from its Linux input device: key events become the typed line."""

from __future__ import annotations

import io
from pathlib import Path

from producers.station.keyboard import EV_KEY, EVENT, KEY_CAPSLOCK, KEY_ENTER, KEYMAP, device_lines

SHIFT = 42
CODES = {shifted: code for code, (_, shifted) in KEYMAP.items()}


def typed(text: str, caps_lock: bool = False) -> bytes:
    """The events a reader sends for ``text`` (upper case: with Shift held), then Enter."""
    events = [(EV_KEY, KEY_CAPSLOCK, 1), (EV_KEY, KEY_CAPSLOCK, 0)] if caps_lock else []
    for char in text:
        code = CODES[char]
        events += [(EV_KEY, SHIFT, 1), (EV_KEY, code, 1), (EV_KEY, code, 0), (EV_KEY, SHIFT, 0), (0, 0, 0)]
    events += [(EV_KEY, KEY_ENTER, 1), (EV_KEY, KEY_ENTER, 0)]
    return b"".join(EVENT.pack(0, 0, *event) for event in events)


def test_it_turns_key_events_into_the_lines_the_reader_typed(tmp_path: Path) -> None:
    capture = tmp_path / "events"
    capture.write_bytes(typed("RVBKBPBCDE") + typed("RVBKBPXXXX"))
    assert list(device_lines(capture)) == ["RVBKBPBCDE", "RVBKBPXXXX"]


def test_caps_lock_turns_a_readers_capitals_into_lower_case(tmp_path: Path) -> None:
    capture = tmp_path / "events"
    capture.write_bytes(typed("RVBK", caps_lock=True))
    assert list(device_lines(capture)) == ["rvbk"]


def test_the_event_record_is_the_kernels_struct_input_event() -> None:
    assert EVENT.size in (16, 24)  # 32- or 64-bit time_t
    assert len(io.BytesIO(typed("B")).getvalue()) % EVENT.size == 0
