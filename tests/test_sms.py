"""The SMS adapter: the console one masks the phone, the HTTP one posts JSON with the
bearer token to a real HTTP server on loopback and says clearly what went wrong."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.settings import Settings
from pipeline.sms import ConsoleSms, HttpSms, SmsError, sms_sender

PHONE = "0981234791"


class SmsGateway(BaseHTTPRequestHandler):
    received: list[tuple[dict, str]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        SmsGateway.received.append((body, self.headers.get("Authorization", "")))
        self.send_response(SmsGateway.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def gateway_url() -> Iterator[str]:
    SmsGateway.received, SmsGateway.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), SmsGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/send"
    server.shutdown()
    server.server_close()


def test_without_a_url_codes_go_to_the_console_with_the_phone_masked(caplog: pytest.LogCaptureFixture) -> None:
    sender = sms_sender(Settings())
    assert isinstance(sender, ConsoleSms)
    with caplog.at_level(logging.INFO, logger="ravao.sms"):
        sender.send(PHONE, "ravao: your code is 123456")
    assert "123456" in caplog.text and "098****791" in caplog.text
    assert PHONE not in caplog.text


def test_the_http_adapter_posts_json_with_the_bearer_token(gateway_url: str) -> None:
    sender = sms_sender(Settings(sms_url=gateway_url, sms_token="s3cret"))
    assert isinstance(sender, HttpSms)
    sender.send(PHONE, "ravao: your code is 123456")
    assert SmsGateway.received == [({"to": PHONE, "text": "ravao: your code is 123456"}, "Bearer s3cret")]


def test_a_refused_token_says_to_check_it_without_naming_the_phone(gateway_url: str) -> None:
    SmsGateway.status = 401
    with pytest.raises(SmsError, match="RAVAO_SMS_TOKEN") as error:
        HttpSms(gateway_url, "wrong", 5).send(PHONE, "x")
    assert PHONE not in str(error.value)


def test_a_gateway_error_is_an_sms_error(gateway_url: str) -> None:
    SmsGateway.status = 500
    with pytest.raises(SmsError, match="500"):
        HttpSms(gateway_url, None, 5).send(PHONE, "x")


def test_an_unreachable_gateway_says_to_check_the_url() -> None:
    with pytest.raises(SmsError, match="RAVAO_SMS_URL"):
        HttpSms("http://127.0.0.1:9/send", None, 2).send(PHONE, "x")


def test_an_sms_error_never_repeats_the_credentials_a_url_carries() -> None:
    import httpx

    from pipeline.sms import HttpSms, SmsError

    def refuse(request):
        raise httpx.ConnectError("no route", request=request)

    sender = HttpSms("https://relay:s3cr3t-pass@sms.example.org/send?key=k3y-in-query", None, 1.0,
                     transport=httpx.MockTransport(refuse))
    try:
        sender.send("0981234791", "ravao: test")
    except SmsError as exc:
        said = str(exc)
    assert "sms.example.org/send" in said and "s3cr3t" not in said and "k3y" not in said
