"""The notifier: tells the recipients of every confirmed alert, durably.

    notifier = Notifier(settings, bootstrap, directory, on_settled=job.mark_notified)
    notifier.restore()            # once, before anything else: the state on `notifications`
    notifier.offer(alert)         # every latest alert version the job writes or reads back
    notifier.deliver_due()        # one pass, called in the job's loop
    notifier.close()

Who is told (`offer` of a ``confirmed`` alert; later versions tell nobody again): by SMS
the venue's owner and staff phones (`registry.venues`) and the area officers of every
area the venue lies in (`accounts`), each phone once; by webhook every RAVAO_WEBHOOKS
endpoint. A ``retracted`` alert sends a retraction notice to each recipient the alert was
sent to (delivered, or tried), and stops the ones never tried; confirmed again after
that, it tells each recipient again.

Durability (`pipeline.alerts.outbox`): a notification is published ``pending`` before it
is tried, ``sending`` (acknowledged) before each attempt, and its outcome after. A
restart reads the topic back: nothing delivered is sent again; one found ``sending``
died with the process and is sent again at once, with the same ``webhook-id`` and body.
(An endpoint that answered 2xx just before the process died may see it twice: the spec's
receivers deduplicate by ``webhook-id``.)

Attempts follow RAVAO_NOTIFY_RETRY_SECONDS; a ``Retry-After`` longer than the next wait
is waited instead; after the last, the notification is ``failed``. A 410 Gone disables
the endpoint: its notifications end ``disabled``, and that is read back after a restart.
When every notification of a confirmed alert has ended, ``on_settled(alert_id)`` is
called, once per process (again after a restart if the alert is still ``confirmed``).

Threads: call every method from one thread. `deliver_due` blocks: it sends one at a time,
each attempt up to RAVAO_NOTIFY_TIMEOUT_SECONDS (async code: run it in a worker thread).
`on_settled` is called from inside `offer` or `deliver_due`. A broker that does not
acknowledge a state raises `DeliveryFailed` from them: nothing is lost, the next call or
a restart carries on from what the topic holds.

Ids are drawn at random and remembered on the topic, not derived: a uuid5 of an alert
and a phone would let anyone with the warehouse's masked table and the alert id recover
the phone by trying the few thousand numbers the mask leaves.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import NamedTuple
from uuid import UUID

from ..access.directory import AccountDirectory
from ..privacy import mask_phone
from ..settings import Settings
from ..sms import SmsError, SmsSender, sms_sender
from ..topics import topics_for
from .messages import sms_text, webhook_body
from .metrics import AlertsMetrics
from .outbox import Outbox
from .webhooks import Endpoint, WebhookSender, endpoints_from
from schemas.cases import Alert, AlertStatus
from schemas.notifications import Channel, DeliveryState, Notification, Purpose, RecipientRole

log = logging.getLogger("ravao.alerts.notify")


class Recipient(NamedTuple):
    channel: Channel
    address: str  # a phone (SMS) or an endpoint's name (webhook)
    role: RecipientRole


def recipients_of(alert: Alert, directory: AccountDirectory, endpoints: dict[str, Endpoint]) -> list[Recipient]:
    """Each phone once (an owner who is also an area officer gets one SMS), as its most
    direct role; then every endpoint."""
    found: dict[str, Recipient] = {}
    for phone, role in directory.phones_at_venue(alert.venue_id):
        found.setdefault(phone, Recipient(Channel.sms, phone, RecipientRole(role.value)))
    venue = directory.venue(alert.venue_id)
    for phone in directory.area_officers(venue.area_path if venue is not None else ()):
        found.setdefault(phone, Recipient(Channel.sms, phone, RecipientRole.area_officer))
    return [*found.values(), *(Recipient(Channel.webhook, name, RecipientRole.endpoint) for name in endpoints)]


def shown(notification: Notification) -> str:
    """A recipient as logs may show it."""
    if notification.channel is Channel.sms:
        return f"{notification.role.value} {mask_phone(notification.recipient)}"
    return f"endpoint {notification.recipient}"


class Notifier:
    def __init__(self, settings: Settings, bootstrap: str, directory: AccountDirectory,
                 on_settled: Callable[[UUID], None], clock: Callable[[], float] = time.time,
                 sms: SmsSender | None = None, metrics: AlertsMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or AlertsMetrics()
        self.directory = directory
        self.on_settled = on_settled
        self.clock = clock
        self.schedule = settings.notify_retry_schedule
        self.endpoints = endpoints_from(settings)
        self.outbox = Outbox(bootstrap, topics_for(settings).notifications.name)
        self.sms = sms if sms is not None else sms_sender(settings)
        self.webhooks = WebhookSender(settings.notify_timeout_seconds)
        self.alerts: dict[UUID, Alert] = {}  # the latest version offered
        self.disabled: set[str] = set()
        self._settled: set[UUID] = set()

    # --- the job's calls ---------------------------------------------------------------
    def restore(self) -> None:
        count = self.outbox.restore()
        self.disabled = self.outbox.disabled_endpoints()
        for name in sorted(self.disabled & set(self.endpoints)):
            log.warning("webhook endpoint %s is disabled (it answered 410 Gone): rename it in RAVAO_WEBHOOKS "
                        "to send to it again", name)
        log.info("notifications restored: %d, %d open", count, sum(1 for _ in self.outbox.open()))

    def offer(self, alert: Alert) -> None:
        known = self.alerts.get(alert.alert_id)
        if known is not None and known.version > alert.version:
            return  # an older version read back late
        self.alerts[alert.alert_id] = alert
        if alert.status is AlertStatus.confirmed:
            for stale in self.outbox.of_alert(alert.alert_id, Purpose.retraction):
                if not stale.ended:
                    self._end(stale, DeliveryState.cancelled, "the alert was confirmed again before it was delivered")
            self._tell(alert, Purpose.alert)
            self._check_settled(alert.alert_id)
        elif alert.status is AlertStatus.retracted:
            self._settled.discard(alert.alert_id)  # confirmed again later, it is a round of its own
            self._retract(alert)
        elif alert.status is AlertStatus.notified:
            self._settled.add(alert.alert_id)

    def deliver_due(self) -> int:
        now = self.clock()
        due = [n for n in self.outbox.open()
               if n.state is DeliveryState.sending
               or n.next_attempt_at is None or n.next_attempt_at.timestamp() <= now]
        due.sort(key=lambda n: (n.next_attempt_at or n.created_at))
        delivered = 0
        # Where an attempt got no answer at all (a timeout, no connection), the rest of this
        # pass skips that endpoint (or the SMS gateway): a dead endpoint costs one timeout a
        # pass, instead of one per notification, while the others' are delivered.
        unanswered: set[str] = set()
        for notification in due:
            current = self.outbox.by_id[notification.notification_id]
            if current.ended:  # ended by an earlier one in this pass (its endpoint went away)
                continue
            route = current.recipient if current.channel is Channel.webhook else "sms"
            if route in unanswered:
                continue
            delivered += self._attempt(current)
            after = self.outbox.by_id[current.notification_id]
            if after.state is DeliveryState.pending and after.last_status is None:
                unanswered.add(route)
        return delivered

    def close(self) -> None:
        self.outbox.close()
        self.webhooks.close()
        close = getattr(self.sms, "close", None)
        if close is not None:
            close()

    # --- deciding who is told ---------------------------------------------------------
    def _tell(self, alert: Alert, purpose: Purpose, only: list[Recipient] | None = None) -> None:
        recipients = recipients_of(alert, self.directory, self.endpoints) if only is None else only
        for recipient in recipients:
            latest = self._latest_to(alert.alert_id, recipient)
            if latest is not None and latest.purpose is purpose and latest.state is not DeliveryState.cancelled:
                continue  # told this already; an alert confirmed again after its retraction is told again
            self.outbox.put(Notification(
                notification_id=uuid.uuid4(), alert_id=alert.alert_id, alert_version=alert.version, purpose=purpose,
                channel=recipient.channel, recipient=recipient.address, role=recipient.role,
                venue_id=alert.venue_id, body=self._body(alert, purpose, recipient.channel),
                next_attempt_at=self._at(self.clock() + self.schedule[0]), created_at=self._at(self.clock()),
                updated_at=self._at(self.clock()),
            ))

    def _latest_to(self, alert_id: UUID, recipient: Recipient) -> Notification | None:
        """The newest notification of the alert to this recipient (an alert or a retraction)."""
        found = [n for n in self.outbox.of_alert(alert_id)
                 if n.channel is recipient.channel and n.recipient == recipient.address]
        return max(found, key=lambda n: n.created_at, default=None)

    def _retract(self, alert: Alert) -> None:
        told = []
        for notification in self.outbox.of_alert(alert.alert_id, Purpose.alert):
            if notification.attempts > 0:
                told.append(Recipient(notification.channel, notification.recipient, notification.role))
            if not notification.ended:
                self._end(notification, DeliveryState.cancelled, "the alert was retracted before it was delivered")
        self._tell(alert, Purpose.retraction, only=told)

    def _body(self, alert: Alert, purpose: Purpose, channel: Channel) -> str:
        venue = self.directory.venue(alert.venue_id)
        name = self.directory.venue_names.get(alert.venue_id, alert.venue_id)
        if channel is Channel.sms:
            return sms_text(alert, purpose, name, self.settings.notify_advice, self.settings.web_public_url)
        return webhook_body(alert, purpose, name, venue.area_path if venue is not None else (),
                            self.settings.notify_advice, self.settings.web_public_url)

    # --- one attempt --------------------------------------------------------------------
    def _attempt(self, notification: Notification) -> int:
        endpoint = None
        if notification.channel is Channel.webhook:
            if notification.recipient in self.disabled:
                self._end(notification, DeliveryState.disabled, "its endpoint is disabled (410 Gone)")
                return 0
            endpoint = self.endpoints.get(notification.recipient)
            if endpoint is None:
                self._end(notification, DeliveryState.cancelled, "its endpoint is no longer in RAVAO_WEBHOOKS")
                return 0
        attempt_number = notification.attempts + 1
        sending = self.outbox.put(notification.model_copy(update={
            "state": DeliveryState.sending, "attempts": attempt_number, "updated_at": self._at(self.clock())}))
        if endpoint is not None:
            outcome = self.webhooks.send(endpoint, sending.notification_id, sending.body)
            ok, status, error, wait, gone = outcome.delivered, outcome.status, outcome.error, outcome.retry_after, outcome.gone
        else:
            ok, status, error, wait, gone = True, None, "", None, False
            try:
                self.sms.send(sending.recipient, sending.body)
            except SmsError as exc:
                ok, error = False, str(exc)[:300]
        now = self.clock()
        if ok:
            self.outbox.put(sending.model_copy(update={
                "state": DeliveryState.delivered, "last_status": status, "last_error": "", "next_attempt_at": None,
                "updated_at": self._at(now), "delivered_at": self._at(now)}))
            log.info("notification %s (%s of alert %s) delivered, attempt %d", sending.notification_id,
                     shown(sending), sending.alert_id, attempt_number)
            self._check_settled(sending.alert_id)
            self.metrics.attempted(sending.channel.value, "delivered")
            return 1
        failed = sending.model_copy(update={"last_status": status, "last_error": error[:300]})
        last = attempt_number >= len(self.schedule)
        self.metrics.attempted(sending.channel.value, "disabled" if gone else "failed" if last else "retrying")
        if gone:
            self._disable(failed)
        elif last:
            self._end(failed, DeliveryState.failed, error)
            log.warning("notification %s (%s of alert %s) failed after %d attempts: %s", sending.notification_id,
                        shown(sending), sending.alert_id, attempt_number, error)
        else:
            later = max(self.schedule[attempt_number], wait or 0.0)
            self.outbox.put(failed.model_copy(update={
                "state": DeliveryState.pending, "next_attempt_at": self._at(now + later), "updated_at": self._at(now)}))
            log.info("notification %s (%s) attempt %d failed (%s); next in %.0f s", sending.notification_id,
                     shown(sending), attempt_number, error, later)
        return 0

    def _disable(self, notification: Notification) -> None:
        name = notification.recipient
        self.disabled.add(name)
        self._end(notification, DeliveryState.disabled, notification.last_error)
        log.warning("webhook endpoint %s answered 410 Gone: disabled, nothing more is sent to it", name)
        for other in list(self.outbox.open()):
            if other.channel is Channel.webhook and other.recipient == name:
                self._end(other, DeliveryState.disabled, "its endpoint is disabled (410 Gone)")

    def _end(self, notification: Notification, state: DeliveryState, error: str) -> None:
        self.outbox.put(notification.model_copy(update={
            "state": state, "last_error": error[:300], "next_attempt_at": None, "updated_at": self._at(self.clock())}))
        self._check_settled(notification.alert_id)

    def _check_settled(self, alert_id: UUID) -> None:
        alert = self.alerts.get(alert_id)
        if alert is None or alert.status is not AlertStatus.confirmed or alert_id in self._settled:
            return
        if all(n.ended for n in self.outbox.of_alert(alert_id, Purpose.alert)):
            self._settled.add(alert_id)
            self.on_settled(alert_id)

    @staticmethod
    def _at(seconds: float) -> datetime:
        return datetime.fromtimestamp(seconds, timezone.utc)
