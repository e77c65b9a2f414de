"""Administrative areas from nested JSON, of any depth.

The format is the one of the `vietnam-provinces` package: a list of provinces, each with
``wards`` (two tiers, since 2025) or ``districts`` that hold ``wards`` (three tiers, as in
2021). Ids are the official codes zero-padded to their tier's width (2 digits for a
province, 3 for a district, 5 for a commune), which keeps them unique across tiers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.registry import Area

from .package_data import package_path

# child key -> (tier name, id width)
CHILD_KEYS = {"districts": ("district", 3), "wards": ("commune", 5)}
TOP_TIER = ("province", 2)
NAMED_SOURCES = {
    "vn-2025": "the current two-tier data of the vietnam-provinces package",
    "binh-duong-2021": "Binh Duong province with its 9 districts, as in the 2021 letter",
}


class AreaSourceError(ValueError):
    pass


def source_path(source: str) -> Path:
    if source == "vn-2025":
        import vietnam_provinces

        return Path(vietnam_provinces.NESTED_DIVISIONS_JSON_PATH)
    if source in NAMED_SOURCES:
        return package_path("schemas", "areas", f"{source}.json")
    path = Path(source)
    if not path.exists():
        raise AreaSourceError(
            f"{source!r} is neither a file nor a known source ({', '.join(NAMED_SOURCES)})"
        )
    return path


def load_areas(source: str) -> list[Area]:
    """Every area in the source, parents before children."""
    path = source_path(source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AreaSourceError(f"{path}: not readable as JSON ({exc})") from exc
    if not isinstance(data, list) or not data:
        raise AreaSourceError(f"{path}: expected a non-empty list of provinces")
    areas: list[Area] = []
    for node in data:
        _walk(node, TOP_TIER, None, (), areas, path)
    ids = [a.area_id for a in areas]
    if len(ids) != len(set(ids)):
        raise AreaSourceError(f"{path}: some area codes appear twice")
    return areas


def _walk(node: Any, tier: tuple[str, int], parent: Area | None, path: tuple[str, ...],
          out: list[Area], source: Path) -> None:
    name, width = tier
    try:
        code = int(node["code"])
        title = str(node["name"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AreaSourceError(f"{source}: a {name} lacks a numeric 'code' or a 'name' ({exc})") from exc
    area_id = f"{code:0{width}d}"
    area = Area(
        area_id=area_id, name=title, tier=name, level=len(path),
        parent_id=parent.area_id if parent else None, path=path + (area_id,),
    )
    out.append(area)
    for key, child_tier in CHILD_KEYS.items():
        for child in node.get(key) or ():
            _walk(child, child_tier, area, area.path, out, source)
