"""Text messages to a phone: one-time sign-in and enrolment codes, and alert notifications.

    sender = sms_sender(settings)      # RAVAO_SMS_URL unset: ConsoleSms
    sender.send("0981234791", "ravao: your code is 123456")

`ConsoleSms` is the embedded default: it writes the message to the console log, with the
phone masked (the code in the text is what the operator of a demo needs to see, and it is
short-lived). `HttpSms` posts ``{"to": phone, "text": text}`` as JSON to RAVAO_SMS_URL with
``Authorization: Bearer RAVAO_SMS_TOKEN``, the shape most SMS gateways (or a small relay in
front of one) accept. A failure raises `SmsError` with what to check, never the phone.
"""

from __future__ import annotations

import logging
from typing import Protocol

import httpx

from .privacy import mask_phone
from .settings import Settings

log = logging.getLogger("ravao.sms")


class SmsError(RuntimeError):
    """The message was not accepted by the SMS gateway."""


class SmsSender(Protocol):
    def send(self, phone: str, text: str) -> None:
        """Send ``text`` to ``phone``; raise `SmsError` if it was not accepted. May block for
        up to RAVAO_SMS_TIMEOUT_SECONDS: call it from a worker thread in async code. Must not
        log the phone unmasked."""


class ConsoleSms:
    def send(self, phone: str, text: str) -> None:
        log.warning("SMS to %s: %s", mask_phone(phone), text)


class HttpSms:
    def __init__(self, url: str, token: str | None, timeout: float,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url
        # Named in errors without what a URL may carry (user:password@, a key in the query):
        # errors go to logs and to the notifications' last_error.
        parts = httpx.URL(url)
        self.where = f"{parts.scheme}://{parts.host}" + (f":{parts.port}" if parts.port else "") + parts.path
        self._client = httpx.Client(headers=headers, timeout=timeout, transport=transport)

    def send(self, phone: str, text: str) -> None:
        try:
            response = self._client.post(self.url, json={"to": phone, "text": text})
        except httpx.TimeoutException as exc:
            raise SmsError(f"the SMS gateway at {self.where} did not answer in time "
                           "(RAVAO_SMS_TIMEOUT_SECONDS)") from exc
        except httpx.HTTPError as exc:
            raise SmsError(f"cannot reach the SMS gateway at {self.where}: {type(exc).__name__}; "
                           "check RAVAO_SMS_URL") from exc
        if response.status_code in (401, 403):
            raise SmsError(f"the SMS gateway refused our credentials ({response.status_code}): "
                           "check RAVAO_SMS_TOKEN")
        if response.status_code >= 300:
            raise SmsError(f"the SMS gateway answered {response.status_code}: the message was not sent")

    def close(self) -> None:
        self._client.close()


def sms_sender(settings: Settings) -> SmsSender:
    if not settings.sms_url:
        return ConsoleSms()
    return HttpSms(settings.sms_url, settings.sms_token, settings.sms_timeout_seconds)
