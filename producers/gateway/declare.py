"""POST /api/v1/declarations: a health declaration, by the person or by a guard for them.

By the person (declared_by self), from the check-in page: signed by the phone enrolled for
their code, exactly as a self check-in is (`phone.key_refusal`; the signed lines are in
`declarations`), and sent within RAVAO_GATEWAY_SELF_CLOCK_SKEW_SECONDS of arrival, so a
photographed card declares nothing and a captured request is not replayed later.

By a guard (declared_by guard, device_id set), with a guard phone's token or a guard
session: only for a person this device scanned at this gateway in the last minutes
(`Gateway.scanned_lately`), so a guard of one venue cannot declare for someone scanned at
another, nor for anyone whose card they merely photographed.

Either way the request is limited per client address before its body is read (as a self
check-in), then per person at that address or per device; the record is validated by
`schemas.declarations.Declaration` and answered after Kafka acknowledged it on
`declarations` (503 otherwise: send it again, same declaration id). Neither the request nor
the answer is logged, and the answer carries the status only.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import ValidationError

from schemas.declarations import Declaration, DeclaredBy
from schemas.qrcode import InvalidCode

from .api import bearer, client_address, errors, gateway, now
from .declarations import COLOURS, SYMPTOM_ORDER, signed_bytes
from .errors import ApiError, clip
from .models import DeclarationAnswer, DeclarationIn
from .phone import key_refusal
from .service import GUARD_DECLARATION_SECONDS, Gateway

router = APIRouter(prefix="/api/v1", tags=["health declarations"])


@router.post("/declarations", response_model=DeclarationAnswer,
             responses=errors(400, 401, 403, 404, 408, 413, 422, 429, 503),
             summary="A health declaration, by the person (signed by their enrolled phone) or by a guard")
async def declare(body: DeclarationIn, request: Request, gw: Gateway = Depends(gateway),
                  credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> DeclarationAnswer:
    """Publishes a `Declaration` (date, symptoms from the fixed list, contact with a case,
    travel) to `declarations`, keyed by the person id. Signed (`key_id`, `signature`,
    `sent_at`): the person's own, checked against the phone enrolled for the code (403
    `enrolment_required`, `phone_not_enrolled`, `bad_phone_signature`; 400 `too_late` or
    `future_scan` for a phone clock off by more than RAVAO_GATEWAY_SELF_CLOCK_SKEW_SECONDS).
    Unsigned: a guard's, with a guard phone's token or session, for a person that device
    scanned in the last 15 minutes (403 `not_scanned_here` otherwise). `declared_on` is today,
    give or take a day (422 `not_today`). From then on every accepted scan of the person
    answers their status (none, ok, exposed, symptoms) and its colour; the answers themselves
    are never answered, logged, or put in a scan."""
    try:
        person_id = gw.codec.decode(body.person_qr, expect="P").entity_id
    except InvalidCode as error:
        raise ApiError(404, error.reason.value, f"this is not a valid personal code: {error.message}") from None
    arrived = now()
    if abs(body.declared_on - arrived.date()) > timedelta(days=1):
        raise ApiError(422, "not_today", "a declaration is for today: set declared_on to today's date")
    symptoms = sorted(set(body.symptoms), key=SYMPTOM_ORDER.__getitem__)
    client = client_address(request.scope)
    if body.signature is not None or body.key_id is not None:
        await gw.enrolled_key(person_id, body.key_id)
        message = signed_bytes(person_id, body.declaration_id, body.declared_on, symptoms, body.contact_with_case,
                               body.travel, body.sent_at)
        refused = key_refusal(person_id, message, body.key_id, body.signature, body.sent_at, gw.directory.enrolled_key)
        if refused is not None:
            raise ApiError(403, refused[0], refused[1])
        skew = gw.self_window.past
        if body.sent_at < arrived - skew or body.sent_at > arrived + skew:
            reason = "too_late" if body.sent_at < arrived else "future_scan"
            raise ApiError(400, reason, f"sent at {body.sent_at.isoformat()}, more than {skew} from its arrival: "
                           "the phone's clock is wrong (the check-in page corrects it and sends again)")
        gw.limit_person(person_id, client)
        # Made when the phone signed it (never later than its arrival): a captured request
        # sent again is the same declaration at the same time, not a newer one overriding
        # what the person declared since.
        by, device_id, declared_at = DeclaredBy.self, None, min(body.sent_at, arrived)
    else:
        info, _auth = await gw.authenticate_scope(request.scope, credentials.credentials if credentials else None,
                                                  client)
        gw.limit_device(info.device_id, 1)
        if not gw.scanned_lately(info.device_id, person_id):
            raise ApiError(403, "not_scanned_here", f"a guard declares for a person right after scanning their code "
                           f"with this device (within {GUARD_DECLARATION_SECONDS // 60} minutes): scan it, then "
                           "declare; a person can also declare on their own phone's check-in page")
        by, device_id, declared_at = DeclaredBy.guard, info.device_id, arrived
    try:
        declaration = Declaration(declaration_id=body.declaration_id, person_id=person_id,
                                  declared_on=body.declared_on, declared_at=declared_at, symptoms=symptoms,
                                  contact_with_case=body.contact_with_case, travel=body.travel.strip(),
                                  declared_by=by, device_id=device_id)
    except ValidationError as error:  # where, never the values (they are the person's answers)
        where = "; ".join(".".join(str(p) for p in e.get("loc", ())) for e in error.errors()[:3])
        raise ApiError(422, "invalid_request", f"the declaration does not match the record: {clip(where, 200)}") from None
    await gw.declare(declaration)
    status = declaration.status()
    return DeclarationAnswer(declaration_id=declaration.declaration_id, declared_by=by.value, status=status,
                             colour=COLOURS[status])
