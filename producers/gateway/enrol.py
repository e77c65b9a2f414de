"""Enrolling a person's phone (/api/v1/enrolment...): the one door to self check-in.

    POST /api/v1/enrolment/code      a code by SMS to the phone number on record (masked in the answer)
    POST /api/v1/enrolment/attended  a guard (device token) checked the card against an ID:
                                     the code is answered, for the guard to show or read out
    POST /api/v1/enrolment           the code and the page's public key: the phone is enrolled

One-time codes are `pipeline.access.codes` (purpose ``enrol_phone``), kept for the person
id: the person's own phone completes the enrolment whichever way the code came. On success
the gateway publishes a `PhoneEnrolment` to the compacted enrolment topic (every gateway
follows it) and applies it at once; the newest enrolment is the person's phone, so the old
phone's check-ins are refused from then on. Every enrolment request of an address is
limited before its body is read (`Gateway.limit_enrolment`); the codes module limits the
codes sent per person and per address, and the wrong tries. No phone number is logged or
answered, other than masked.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from pipeline.access.codes import ENROL_PHONE, Outcome
from pipeline.access.masking import display_name
from pipeline.access.audit import audit_record
from pipeline.access.policy import guard_caller, guard_sees_in_full
from pipeline.privacy import mask_phone
from schemas.enrolment import ConfirmedBy
from schemas.qrcode import InvalidCode
from schemas.registry import DeviceKind

from .api import client_address, device, errors, gateway
from .errors import ApiError
from .models import AttendedEnrolAnswer, AttendedEnrolIn, EnrolAnswer, EnrolCodeAnswer, EnrolCodeIn, EnrolIn
from .service import Gateway

router = APIRouter(prefix="/api/v1/enrolment", tags=["phone enrolment"])

def person_of(gw: Gateway, person_qr: str) -> str:
    try:
        return gw.codec.decode(person_qr, expect="P").entity_id
    except InvalidCode as error:
        # 404, as for any id that names nothing: a request can be well-formed and still carry
        # a misread code.
        raise ApiError(404, error.reason.value, f"this is not a valid personal code: {error.message}") from None


def code_not_sent(wait: float) -> ApiError:
    return ApiError(429, "rate_limited", "a code was sent a short time ago: use it, or wait before asking for "
                    "another", retry_after=wait)


@router.post("/code", response_model=EnrolCodeAnswer, responses=errors(400, 404, 408, 409, 413, 422, 429, 503),
             summary="Send a phone-enrolment code by SMS")
async def send_code(body: EnrolCodeIn, request: Request, gw: Gateway = Depends(gateway)) -> EnrolCodeAnswer:
    """Sends a one-time code to the phone number on record for this personal code. The
    answer shows that number masked only. No number on record (409 `no_phone_on_record`):
    enrol at a venue with a guard, who checks the card against an ID."""
    person_id = person_of(gw, body.person_qr)
    phone = await gw.phone_on_record(person_id)
    if phone is None:
        raise ApiError(409, "no_phone_on_record", "no phone number is on record for this code: enrol at a venue "
                       "with a guard, who checks your card against your ID and gives you a code")
    code = issue_code(gw, request, person_id, ConfirmedBy.sms, None)
    await gw.send_sms(phone, f"ravao: mã đăng ký điện thoại / phone enrolment code {code}. "
                      "Không đưa mã cho ai / Never give it to anyone.")
    return EnrolCodeAnswer(sent_to=mask_phone(phone), expires_in_seconds=int(gw.codes.ttl))


def issue_code(gw: Gateway, request: Request, person_id: str, how: ConfirmedBy, guard_device: str | None) -> str:
    """An enrolment code for the person, limited per person and per client address."""
    client = client_address(request.scope)
    code = gw.codes.issue(ENROL_PHONE, person_id, client)
    if code is None:
        raise code_not_sent(gw.codes.wait_to_issue(person_id, client))
    gw.issued(person_id, how, guard_device)
    return code


@router.post("/attended", response_model=AttendedEnrolAnswer,
             responses=errors(400, 401, 403, 404, 408, 409, 413, 422, 429, 503),
             summary="A guard gives a person an enrolment code")
async def attended_code(body: AttendedEnrolIn, request: Request, who=Depends(device),
                        gw: Gateway = Depends(gateway)) -> AttendedEnrolAnswer:
    """For a person without a phone number on record: the guard (a guard phone's device token)
    checks the card against the person's ID, and the answer carries the code, to show to the
    person or read out; the person types it on their own phone's check-in page."""
    info, auth = who
    if auth.kind is not DeviceKind.guard_phone:
        raise ApiError(403, "not_a_guard", "only a guard's phone gives enrolment codes: a reader station has no one "
                       "to check the ID")
    person_id = person_of(gw, body.person_qr)
    gw.limit_device(info.device_id, 1)
    if await gw.phone_on_record(person_id) is not None:
        # Else a guard of any venue, with a photo of anyone's card, could enrol a phone of
        # their own in that person's place and check in as them anywhere.
        raise ApiError(409, "phone_on_record", "this person has a phone number on record: the enrolment code goes to "
                       "that phone by SMS (the check-in page asks for it), not through a guard")
    code = issue_code(gw, request, person_id, ConfirmedBy.guard, info.device_id)
    full_name = gw.directory.full_name(person_id)
    label = gw.directory.venue_labels.get(info.venue_id)
    full = full_name is not None and guard_sees_in_full(info.device_id, info.venue_id,
                                                        bool(label and label.privileged))
    if full:  # the name in full, to compare with the ID: audited first, as every read in full
        await gw.audit(audit_record(guard_caller(info.device_id, info.venue_id), action="guard_enrolment",
                                    subject=info.venue_id, purpose=f"staff of privileged venue {info.venue_id}",
                                    persons=[person_id]))
    name = None if full_name is None else display_name(full_name, full)
    return AttendedEnrolAnswer(code=code, expires_in_seconds=int(gw.codes.ttl), name=name)


@router.post("", response_model=EnrolAnswer, responses=errors(400, 401, 404, 408, 413, 422, 429, 503),
             summary="Enrol this phone")
async def enrol(body: EnrolIn, request: Request, gw: Gateway = Depends(gateway)) -> EnrolAnswer:
    """Checks the one-time code and enrols the page's public key as the person's phone,
    replacing any phone enrolled before. Answers after Kafka acknowledged the enrolment."""
    person_id = person_of(gw, body.person_qr)
    check = gw.codes.check(ENROL_PHONE, person_id, body.code.strip(), client_address(request.scope))
    if check.outcome is Outcome.throttled:
        raise ApiError(429, "rate_limited", "too many wrong codes: wait, then try again", retry_after=check.retry_after)
    if check.outcome is Outcome.wrong:
        raise ApiError(401, "wrong_code", "this is not the code that was sent: type it again (a few wrong tries "
                       "end the code)")
    if check.outcome is Outcome.used:
        raise ApiError(401, "code_used", "this code was used already: ask for a new code")
    if check.outcome is Outcome.expired:
        raise ApiError(401, "code_expired", "no code is waiting for this card (expired, replaced, or ended by "
                       "wrong tries): ask for a new code")
    record = await gw.enrol(person_id, body.public_key)
    return EnrolAnswer(person_id=person_id, key_id=record.key_id, enrolled_at=record.enrolled_at,
                       confirmed_by=record.confirmed_by.value)
