"""Webhook endpoints (RAVAO_WEBHOOKS) and one delivery attempt to one of them, as the
Standard Webhooks specification says: the ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature`` headers, signed with the endpoint's ``whsec_`` secret by the
`standardwebhooks` package.

    endpoints = endpoints_from(settings)        # raises WebhookConfigError saying what to fix
    attempt = WebhookSender(timeout=15).send(endpoint, notification_id, body)

An attempt is delivered on a 2xx answer only (a redirect is not followed: it is a
failure). 410 Gone means the endpoint wants nothing more (`Attempt.gone`). Any other
answer, a timeout or a refused connection is a failure to retry; ``Retry-After`` (seconds
or an HTTP date) on the answer says the least wait before the next try.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from uuid import UUID

import httpx
from standardwebhooks import Webhook

from ..settings import Settings

MAX_RETRY_AFTER_SECONDS = 24 * 3600  # an endpoint's wish, bounded: a typo must not park an alert for a year


class WebhookConfigError(ValueError):
    """RAVAO_WEBHOOKS cannot be used as it is."""


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    secret: str = field(repr=False)

    def signer(self) -> Webhook:
        return Webhook(self.secret)


def endpoints_from(settings: Settings) -> dict[str, Endpoint]:
    """The configured endpoints by name. A secret is ``whsec_`` and base64 (what the
    spec's libraries generate), given inline or read from ``secret_file``."""
    if not settings.webhooks:
        return {}
    try:
        entries = json.loads(settings.webhooks)
    except json.JSONDecodeError as exc:
        raise WebhookConfigError(f"RAVAO_WEBHOOKS is not JSON ({exc.msg} at character {exc.pos}): expected "
                                 '[{"name": ..., "url": ..., "secret": "whsec_..."}]') from None
    if not isinstance(entries, list):
        raise WebhookConfigError("RAVAO_WEBHOOKS must be a JSON list of endpoints")
    found: dict[str, Endpoint] = {}
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("url"):
            raise WebhookConfigError(f"RAVAO_WEBHOOKS endpoint {number}: give a name and a url")
        name, url = str(entry["name"]), str(entry["url"])
        if name in found:
            raise WebhookConfigError(f"RAVAO_WEBHOOKS: two endpoints are named {name!r}; names must be unique")
        if not url.startswith(("https://", "http://")):
            raise WebhookConfigError(f"RAVAO_WEBHOOKS endpoint {name!r}: the url must start with https://")
        secret = entry.get("secret")
        if secret is None and entry.get("secret_file"):
            try:
                secret = Path(entry["secret_file"]).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise WebhookConfigError(f"RAVAO_WEBHOOKS endpoint {name!r}: cannot read its secret_file "
                                         f"({exc.strerror})") from None
        if not secret:
            raise WebhookConfigError(f"RAVAO_WEBHOOKS endpoint {name!r}: give a secret or a secret_file")
        endpoint = Endpoint(name, url, str(secret))
        try:
            endpoint.signer()
        except Exception:  # the package raises binascii errors, or its own, for a bad secret
            raise WebhookConfigError(f"RAVAO_WEBHOOKS endpoint {name!r}: the secret is not a whsec_ base64 "
                                     "secret (generate one with `openssl rand -base64 32` and prefix it "
                                     "with whsec_)") from None
        found[name] = endpoint
    return found


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    status: int | None = None
    error: str = ""
    retry_after: float | None = None  # seconds the endpoint asked us to wait
    gone: bool = False  # 410: disable the endpoint


class WebhookSender:
    def __init__(self, timeout: float, transport: httpx.BaseTransport | None = None) -> None:
        self.timeout = timeout
        # A connection per attempt: the deadline in `send` needs to see each attempt's socket.
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False,
                                    headers={"user-agent": "ravao-notifier"},
                                    limits=httpx.Limits(max_keepalive_connections=0))

    def send(self, endpoint: Endpoint, notification_id: UUID, body: str) -> Attempt:
        msg_id = str(notification_id)
        now = datetime.now(timezone.utc)  # the receiver checks it against its own clock
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": endpoint.signer().sign(msg_id, now, body),
        }
        # httpx's timeout bounds each read, not the attempt: an endpoint sending a header
        # byte a second would hold the notifier for hours. At the deadline the socket is
        # shut, which ends whatever read is waiting.
        sockets: list[socket.socket] = []
        expired = threading.Event()

        def on_trace(event: str, info: dict) -> None:
            if event == "connection.connect_tcp.complete" and info.get("return_value") is not None:
                sockets.append(info["return_value"].get_extra_info("socket"))

        def expire() -> None:
            expired.set()
            for sock in sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        deadline = threading.Timer(self.timeout, expire)
        deadline.daemon = True
        deadline.start()
        try:
            # The answer's status and headers are all we need: its body is never read, so an
            # endpoint that sends an endless (or huge) one cannot hold or fill the notifier.
            with self._client.stream("POST", endpoint.url, content=body.encode("utf-8"), headers=headers,
                                     extensions={"trace": on_trace}) as response:
                pass
        except httpx.TimeoutException:
            return Attempt(False, error=f"no answer within {self.timeout:g} s (RAVAO_NOTIFY_TIMEOUT_SECONDS)")
        except httpx.HTTPError as exc:
            if expired.is_set():
                return Attempt(False, error=f"no answer within {self.timeout:g} s (RAVAO_NOTIFY_TIMEOUT_SECONDS)")
            return Attempt(False, error=f"cannot reach the endpoint: {type(exc).__name__}")
        finally:
            deadline.cancel()
        status = response.status_code
        if 200 <= status < 300:
            return Attempt(True, status)
        if status == 410:
            return Attempt(False, status, error="410 Gone: the endpoint asked for no more webhooks", gone=True)
        return Attempt(False, status, error=f"the endpoint answered {status}",
                       retry_after=retry_after(response.headers.get("retry-after")))

    def close(self) -> None:
        self._client.close()


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    wait = moment.timestamp() - (time.time() if now is None else now)
    return min(max(wait, 0.0), MAX_RETRY_AFTER_SECONDS)
