"""Masking of personal data for every role but tracing.

    mask_name("Nguyễn Văn An")  -> "Nguyễn V** A*"
    mask_phone("0981234791")    -> "098****791"
    mask_id_number("012345678901") -> "*********901"
"""

from __future__ import annotations


def mask_name(full_name: str) -> str:
    words = full_name.split()
    if not words:
        return ""
    return " ".join([words[0]] + [w[0] + "*" * (len(w) - 1) for w in words[1:]])


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    if len(phone) <= 6:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 6) + phone[-3:]


def mask_id_number(id_number: str | None) -> str:
    if not id_number:
        return ""
    return "*" * (len(id_number) - 3) + id_number[-3:]
