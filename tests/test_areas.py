"""Areas of any depth from nested JSON: the 2025 package data and the 2021 three tiers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pipeline.areas import AreaSourceError, load_areas

FIXTURE = str(Path(__file__).parent / "fixtures" / "areas-three-tier.json")


def test_it_loads_a_three_tier_file_with_paths_from_the_province_down() -> None:
    areas = {a.area_id: a for a in load_areas(FIXTURE)}
    assert Counter(a.tier for a in areas.values()) == {"province": 1, "district": 2, "commune": 6}
    commune = areas["25741"]
    assert commune.path == ("74", "718", "25741")
    assert commune.parent_id == "718" and areas["718"].parent_id == "74"
    assert areas["74"].name == "Tỉnh Bình Dương" and areas["74"].level == 0


def test_it_loads_the_current_two_tier_package_data() -> None:
    areas = load_areas("vn-2025")
    tiers = Counter(a.tier for a in areas)
    assert tiers["province"] == 34 and tiers["commune"] > 3000 and set(tiers) == {"province", "commune"}
    assert len({a.area_id for a in areas}) == len(areas)
    assert all(len(a.path) == 2 for a in areas if a.tier == "commune")


def test_binh_duong_2021_has_nine_districts() -> None:
    areas = load_areas("binh-duong-2021")
    assert sum(a.tier == "district" for a in areas) == 9
    assert sum(a.tier == "commune" for a in areas) == 91


def test_a_province_code_and_a_district_code_that_are_equal_stay_distinct(tmp_path: Path) -> None:
    data = [{"name": "Tỉnh A", "code": 1, "districts": [{"name": "Huyện B", "code": 1, "wards": [{"name": "Xã C", "code": 1}]}]}]
    path = tmp_path / "areas.json"
    path.write_text(json.dumps(data))
    assert [a.area_id for a in load_areas(str(path))] == ["01", "001", "00001"]


@pytest.mark.parametrize("content, message", [
    ("not json", "not readable as JSON"),
    ("[]", "non-empty list"),
    ('[{"name": "x"}]', "lacks a numeric 'code'"),
])
def test_a_bad_file_is_refused_with_a_reason(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "areas.json"
    path.write_text(content)
    with pytest.raises(AreaSourceError, match=message):
        load_areas(str(path))


def test_an_unknown_source_names_the_known_ones() -> None:
    with pytest.raises(AreaSourceError, match="vn-2025"):
        load_areas("vn-1999")
