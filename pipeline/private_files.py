"""Everything ravao writes under its data directory is for the service user alone.

The data directory holds personal data (the warehouse, the broker's segments of
``registry.personal_data``, the demo's ground truth), the signing keys and the sink's
token. Two walls keep it private:

- every `ravao` process runs with umask 077, so what it creates (and what the broker
  JVM and the embedded engine it starts create) is 700/600 from the start;
- the embedded stack tightens the data directory on start, so files left readable by
  an older version or a hand-made copy lose their group and other bits.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
OPEN_BITS = stat.S_IRWXG | stat.S_IRWXO


def keep_new_files_private() -> None:
    """Files and directories this process (and its children) creates: owner only."""
    os.umask(PRIVATE_UMASK)


def make_private(directory: Path) -> int:
    """Create ``directory`` (mode 700) if needed and take group and other permissions off
    it and everything below it; symlinks are left alone (their modes mean nothing, and
    their targets are not ours). Returns how many entries had to change."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    changed = _tighten(directory)
    for root, dirs, files in os.walk(directory):
        for name in (*dirs, *files):
            changed += _tighten(Path(root) / name)
    return changed


def _tighten(path: Path) -> int:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:  # a log rotated or a segment deleted meanwhile
        return 0
    if stat.S_ISLNK(mode) or not mode & OPEN_BITS:
        return 0
    os.chmod(path, stat.S_IMODE(mode) & ~OPEN_BITS)
    return 1


def open_entries(directory: Path) -> list[Path]:
    """Entries below ``directory`` (itself included) that group or others may use."""
    found = [directory] if Path(directory).lstat().st_mode & OPEN_BITS else []
    for root, dirs, files in os.walk(directory):
        for name in (*dirs, *files):
            path = Path(root) / name
            mode = path.lstat().st_mode
            if not stat.S_ISLNK(mode) and mode & OPEN_BITS:
                found.append(path)
    return found
