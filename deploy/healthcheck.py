"""Health checks of the compose services (`healthcheck:` in docker-compose.yml); exit 0 when
healthy, 1 with the reason on stderr otherwise. Reads the service's own settings.

    python deploy/healthcheck.py web      the web answers its sign-in page on RAVAO_WEB_PORT
    python deploy/healthcheck.py alerts   the alerting job's loop went round within the last
                                          STALE_AFTER seconds (RAVAO_ALERTS_HEARTBEAT_FILE)
"""

from __future__ import annotations

import sys
import time
import urllib.request

STALE_AFTER = 120.0  # a case's evaluation may hold the loop a while; longer than this: unhealthy


def web() -> str | None:
    from pipeline.settings import get_settings

    url = f"http://127.0.0.1:{get_settings().web_port}/sign-in"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return None if answer.status == 200 else f"{url} answered {answer.status}"
    except OSError as exc:
        return f"{url}: {exc}"


def alerts() -> str | None:
    from pipeline.settings import get_settings

    path = get_settings().alerts_heartbeat_file
    if path is None:
        return "RAVAO_ALERTS_HEARTBEAT_FILE is not set: the job keeps no heartbeat"
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return f"{path}: no heartbeat yet"
    return None if age <= STALE_AFTER else f"the job's loop last went round {age:.0f}s ago"


CHECKS = {"web": web, "alerts": alerts}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in CHECKS:
        print(f"usage: healthcheck.py {'|'.join(CHECKS)}", file=sys.stderr)
        return 2
    problem = CHECKS[argv[0]]()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
