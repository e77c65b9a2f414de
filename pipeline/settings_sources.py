"""Where settings come from besides the environment and ``.env``: secrets in files.

A secret may be read from a file named by ``RAVAO_<NAME>_FILE``
(``RAVAO_QR_KEYS_FILE=/run/secrets/qr_keys``), the usual way of passing secrets to
containers (`pipeline.settings.Settings.settings_customise_sources`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

ENV_PREFIX = "RAVAO_"


class FileSecretsSource(PydanticBaseSettingsSource):
    """Reads ``RAVAO_<NAME>_FILE`` for any field: the file's content, stripped, is the value."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        path = os.environ.get(f"{ENV_PREFIX}{field_name.upper()}_FILE")
        if not path:
            return None, field_name, False
        try:
            return Path(path).read_text(encoding="utf-8").strip(), field_name, False
        except OSError as exc:
            raise ValueError(f"{ENV_PREFIX}{field_name.upper()}_FILE={path}: cannot read it ({exc})") from exc

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values
