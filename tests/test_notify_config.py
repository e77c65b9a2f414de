"""RAVAO_WEBHOOKS is read with a message that says what to fix; a secret may come from a
file; Retry-After in both of its forms; whom an alert tells, each phone once."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.alerts.notify import recipients_of
from pipeline.alerts.webhooks import WebhookConfigError, endpoints_from, retry_after
from pipeline.settings import Settings
from schemas import Account
from schemas.notifications import Channel, RecipientRole

from notify_helpers import OFFICER, OWNER, STAFF, confirmed_alert, directory_of, officer, the_case, venue
from webhook_receiver import new_secret

SECRET = new_secret(b"x")


def test_a_secret_can_come_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "eoc").write_text(SECRET + "\n")
    hooks = f'[{{"name": "eoc", "url": "https://eoc.example.org/h", "secret_file": "{tmp_path / "eoc"}"}}]'
    (endpoint,) = endpoints_from(Settings(webhooks=hooks)).values()
    assert endpoint.secret == SECRET and SECRET not in repr(endpoint)


@pytest.mark.parametrize("hooks, says", [
    ("not json", "is not JSON"),
    ('{"name": "x"}', "JSON list"),
    ('[{"url": "https://x"}]', "give a name and a url"),
    ('[{"name": "x", "url": "ftp://x", "secret": "whsec_AA"}]', "https://"),
    ('[{"name": "x", "url": "https://x"}]', "give a secret"),
    ('[{"name": "x", "url": "https://x", "secret": "whsec_!!!"}]', "not a whsec_"),
    ('[{"name": "x", "url": "https://x", "secret_file": "/nonexistent/s"}]', "cannot read its secret_file"),
])
def test_a_bad_webhooks_setting_says_what_to_fix(hooks: str, says: str) -> None:
    with pytest.raises(WebhookConfigError, match=says) as error:
        endpoints_from(Settings(webhooks=hooks))
    assert "!!!" not in str(error.value)  # a secret is never echoed


def test_retry_after_takes_seconds_or_a_date() -> None:
    assert retry_after("120") == 120.0
    assert retry_after("Wed, 02 Dec 2026 04:00:30 GMT", now=1796184000.0) == 30.0
    assert retry_after("soon") is None and retry_after(None) is None
    assert retry_after("99999999") == 24 * 3600


def test_an_alert_tells_each_phone_once_and_not_a_disabled_one() -> None:
    place = venue()
    owner_also_officer = Account(phone=OWNER, role="area_officer", area_id="74", added_by="admin:test")
    staff_disabled = Account(phone=STAFF, role="tracer", active=False, added_by="admin:test")
    elsewhere = Account(phone="0399999999", role="area_officer", area_id="79", added_by="admin:test")
    directory = directory_of(place, accounts=(officer(), owner_also_officer, staff_disabled, elsewhere))
    case, _ = the_case()
    told = recipients_of(confirmed_alert(case, place.venue_id), directory, {})
    assert told == [(Channel.sms, OWNER, RecipientRole.venue_owner), (Channel.sms, OFFICER, RecipientRole.area_officer)]
