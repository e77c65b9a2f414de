"""QR signing keys from settings, or one generated on first use for a local stack."""

from __future__ import annotations

import logging
import os
import secrets

from schemas.ids import ALPHABET
from schemas.qrcode import KEY_ID_LENGTH, QrCodec

from .settings import Settings

log = logging.getLogger(__name__)
GENERATED_KEY_FILE = "qr-keys"


class KeyConfigError(ValueError):
    pass


def parse_keys(text: str) -> dict[str, bytes]:
    """'KB=secret,KC=secret' -> {key id: secret bytes}; order is kept."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key_id, sep, secret = item.partition("=")
        key_id = key_id.strip()
        if not sep or not secret.strip():
            raise KeyConfigError(f"RAVAO_QR_KEYS: {key_id!r} has no secret; write KID=secret")
        if len(key_id) != KEY_ID_LENGTH or any(c not in ALPHABET for c in key_id):
            raise KeyConfigError(
                f"RAVAO_QR_KEYS: key id {key_id!r} must be {KEY_ID_LENGTH} letters of {ALPHABET}"
            )
        if len(secret.strip()) < 16:
            raise KeyConfigError(f"RAVAO_QR_KEYS: the secret of {key_id} must have 16 characters or more")
        keys[key_id] = secret.strip().encode()
    if not keys:
        raise KeyConfigError("RAVAO_QR_KEYS is empty")
    return keys


def load_codec(settings: Settings) -> QrCodec:
    if settings.qr_keys:
        keys = parse_keys(settings.qr_keys)
    else:
        path = settings.secrets_dir / GENERATED_KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(f"KB={secrets.token_urlsafe(32)}\n")
            log.warning("generated a QR signing key in %s; set RAVAO_QR_KEYS in production", path)
        keys = parse_keys(path.read_text())
    try:
        return QrCodec(keys, settings.qr_signing_key)
    except ValueError as exc:
        raise KeyConfigError(str(exc)) from exc
