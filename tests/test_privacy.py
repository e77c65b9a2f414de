"""Personal data is masked for everyone outside the tracing role."""

from pipeline.privacy import mask_id_number, mask_name, mask_phone
from schemas.registry import PersonalData


def test_names_keep_the_family_name_and_initials() -> None:
    assert mask_name("Nguyễn Văn An") == "Nguyễn V** A*"
    assert mask_name("Lê") == "Lê"


def test_phones_keep_three_digits_at_each_end() -> None:
    assert mask_phone("0981234791") == "098****791"


def test_id_numbers_keep_the_last_three_digits() -> None:
    assert mask_id_number("012345678901") == "*********901"


def test_personal_data_never_shows_in_its_repr() -> None:
    record = PersonalData(person_id="P" + "B" * 14, full_name="Nguyễn Văn An", phone="0981234791")
    assert "Nguyễn" not in repr(record) and "0981234791" not in str(record)
