"""Sampling a running service with py-spy (the dev extras), and where its time went.

py-spy reads another process's Python stacks from outside (no change to the service, no
slowdown of its own code); it needs ptrace rights on that process (root, or the same user
with ptrace allowed). The samples are kept as collapsed stacks, the input of a flame graph
(`flamegraph.pl`, speedscope), and summed here by frame.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# A frame in py-spy's raw output: "function (path/to/file.py:line)".
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
OURS = ("producers/", "pipeline/", "schemas/")


class Sampler:
    def __init__(self, process: subprocess.Popen, output: Path) -> None:
        self.process, self.output = process, output

    def finish(self) -> Path:
        """Wait for py-spy to end its sampling and write the stacks; their path."""
        _, errors = self.process.communicate(timeout=120)
        if self.process.returncode != 0 or not self.output.exists():
            raise RuntimeError(f"py-spy failed ({self.process.returncode}): {errors.decode()[-1000:]}")
        return self.output


def py_spy_binary() -> str:
    found = shutil.which("py-spy") or (Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise RuntimeError("py-spy is not installed: `pip install -e '.[dev]'` installs it")
    return str(found)


def py_spy(pid: int, output: Path, seconds: float, rate: int = 200) -> Sampler:
    """Sample ``pid`` and its subprocesses (uvicorn's workers) for ``seconds``, in the
    background: only the thread that holds the GIL, the one running Python (a thread
    waiting in Kafka's poll or the event loop waiting in epoll is not counted as busy)."""
    process = subprocess.Popen([py_spy_binary(), "record", "--pid", str(pid), "--duration", f"{max(1, int(seconds))}",
                                "--rate", str(rate), "--format", "raw", "--subprocesses", "--nonblocking", "--gil",
                                "--output", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return Sampler(process, output)


def _frame(text: str) -> str:
    match = FRAME.match(text)
    if not match:
        return text
    path = match["file"]
    for root in OURS + ("site-packages/",):
        if root in path:
            path = (root if root != "site-packages/" else "") + path.split(root, 1)[1]
            break
    return f"{match['function']} ({path})"


def busiest_frames(folded: Path, top: int = 14) -> list[tuple[str, float]]:
    """The frames the most samples were in (their share), or below: our own code's first,
    then the leaf frames (where the CPU itself was)."""
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame(f) for f in stack.split(";")]
        total += int(count)
        for frame in set(frames):
            if any(f"({root}" in frame for root in OURS):
                inclusive[frame] += int(count)
        leaves["self: " + frames[-1]] += int(count)
    if not total:
        return []
    ours = [(frame, n / total) for frame, n in inclusive.most_common(top)]
    return ours + [(frame, n / total) for frame, n in leaves.most_common(top)]
