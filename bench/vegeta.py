"""Constant-rate HTTP load from vegeta, a load generator made for it (Go, one process).

The gateway benchmark's single-scan part used to send from Python (httpx) in the
benchmark's own process, on the same two cores as the gateway and the broker, logging
every request at INFO: the client then cost about what the gateway did, and its own
delays counted as the gateway's. vegeta sends at a constant rate, open loop (a request
leaves at its time whether or not earlier ones were answered: it starts more workers
instead of waiting), measures each latency from its send, and logs nothing per request.

`make vegeta` installs it into .cache/tools/bin from the Go module proxy; `vegeta_binary`
finds it there or on PATH, and runs that target when it is missing.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.settings import PROJECT_ROOT

INSTALLED = PROJECT_ROOT / ".cache" / "tools" / "bin" / "vegeta"


class LoadGeneratorMissing(RuntimeError):
    pass


def vegeta_binary() -> Path:
    """vegeta's path: .cache/tools/bin (`make vegeta`), else PATH, else `make vegeta` now."""
    if INSTALLED.exists():
        return INSTALLED
    found = shutil.which("vegeta")
    if found:
        return Path(found)
    result = subprocess.run(["make", "--no-print-directory", "vegeta"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True)
    if result.returncode != 0 or not INSTALLED.exists():
        raise LoadGeneratorMissing("the benchmark's load generator, vegeta, is not installed and `make vegeta` "
                                   f"failed:\n{(result.stdout + result.stderr).strip()[-2000:]}\nInstall Go (it "
                                   "needs the Go module proxy) and run `make vegeta`, or put vegeta on PATH.")
    return INSTALLED


@dataclass(frozen=True)
class Latencies:
    """What vegeta measured, in milliseconds."""

    requests: int
    ok: int  # answered 200
    p50: float
    p90: float
    p99: float
    max: float
    rate: float  # the rate it really sent at (requests/s)
    errors: tuple[str, ...]


def write_targets(path: Path, url: str, requests: Iterable[tuple[dict[str, str], bytes]]) -> int:
    """vegeta's JSON target lines: one POST of ``body`` with ``headers`` to ``url`` each."""
    count = 0
    with path.open("w") as out:
        for headers, body in requests:
            header = {name: [value] for name, value in headers.items()}
            out.write(json.dumps({"method": "POST", "url": url, "header": header,
                                  "body": base64.b64encode(body).decode()}) + "\n")
            count += 1
    return count


def attack(targets: Path, rate: float, seconds: float, work_dir: Path, name: str) -> Latencies:
    """Send the targets at ``rate`` per second for ``seconds`` (each target once, in order)."""
    binary = vegeta_binary()
    results = work_dir / f"{name}.bin"
    with results.open("wb") as out:
        subprocess.run([str(binary), "attack", "-format=json", f"-targets={targets}", "-lazy",
                        f"-rate={rate:g}/1s", f"-duration={seconds:g}s", "-timeout=30s", "-keepalive=true"],
                       stdout=out, stderr=subprocess.PIPE, check=True)
    report = subprocess.run([str(binary), "report", "-type=json", str(results)], capture_output=True, text=True,
                            check=True)
    figures = json.loads(report.stdout)
    ms = {key: value / 1e6 for key, value in figures["latencies"].items()}
    codes = figures.get("status_codes") or {}
    return Latencies(requests=figures["requests"], ok=int(codes.get("200", 0)), p50=ms["50th"], p90=ms["90th"],
                     p99=ms["99th"], max=ms["max"], rate=figures["rate"], errors=tuple(figures.get("errors") or ()))
