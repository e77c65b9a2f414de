"""The words of the pages: written in English in the templates and the code, shown in
Vietnamese unless the reader chose English (``?lang=en``, kept in a cookie).

The Vietnamese for each text is in ``words/*.json``, one file per part of the site, a map
from the English text to the Vietnamese. ``{name}`` in a text is filled in after the
lookup. A text with no Vietnamese yet is shown in English (`tests/test_web_words.py`
checks that every text the templates use has one).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LANGUAGES = ("vi", "en")
DEFAULT = "vi"
FOLDER = Path(__file__).parent / "words"


@cache
def vietnamese() -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted(FOLDER.glob("*.json")):
        for english, vi in json.loads(path.read_text(encoding="utf-8")).items():
            if merged.get(english, vi) != vi:
                raise ValueError(f"{path.name}: {english!r} is translated twice, differently")
            merged[english] = vi
    return merged


def translator(lang: str):
    table = vietnamese() if lang == "vi" else {}

    def say(text: str, **values) -> str:
        found = table.get(text, text)
        return found.format(**values) if values else found

    return say
