"""NHS numbers: normalisation and the Modulus 11 check (clinical-research.md 9.1, source I1)."""

from __future__ import annotations

import pytest

from pathway.nhs_number import format_nhs_number, nhs_check_digit, normalise_nhs_number


@pytest.mark.parametrize(
    "written",
    [
        pytest.param("9434765919", id="ten digits"),
        pytest.param("943 476 5919", id="display format with spaces"),
        pytest.param("943-476-5919", id="dashes"),
        pytest.param(" 943 476-5919 ", id="mixed separators"),
        pytest.param("1000000060", id="check digit 11 becomes 0"),
    ],
)
def test_a_valid_nhs_number_is_normalised_to_ten_digits(written: str) -> None:
    digits = normalise_nhs_number(written)

    assert digits == written.replace(" ", "").replace("-", "")
    assert len(digits) == 10


def _rejection(raw: str) -> str:
    with pytest.raises(ValueError, match=r"NHS number") as rejected:
        normalise_nhs_number(raw)
    return str(rejected.value)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("987 654 4321", id="wrong check digit"),
        pytest.param("9434765918", id="check digit off by one"),
        *(
            pytest.param(f"100000001{last}", id=f"stem whose check digit would be 10, ends {last}")
            for last in range(10)
        ),
    ],
)
def test_a_number_failing_modulus_11_is_rejected(raw: str) -> None:
    message = _rejection(raw)

    assert "Modulus 11" in message


@pytest.mark.parametrize("digit", [str(d) for d in range(10)])
def test_every_repdigit_is_rejected(digit: str) -> None:
    message = _rejection(digit * 10)

    assert "repeated" in message


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("943476591", id="nine digits"),
        pytest.param("94347659190", id="eleven digits"),
        pytest.param("943476591X", id="a letter"),
        pytest.param("943.476.5919", id="dots"),
        pytest.param("٩٤٣٤٧٦٥٩١٩", id="non-ASCII digits"),
        pytest.param("+943476591", id="a sign"),
    ],
)
def test_anything_but_ten_digits_is_rejected(raw: str) -> None:
    message = _rejection(raw)

    assert "10 digits" in message


@pytest.mark.parametrize(
    "raw",
    [
        "987 654 4321",
        "9876544321",
        "1111111111",
        "1000000019",
        "94347659190",
        "943476591X",
    ],
)
def test_the_error_message_never_contains_the_number(raw: str) -> None:
    message = _rejection(raw)

    digits = raw.replace(" ", "")
    assert digits not in message.replace(" ", "")
    assert digits[:6] not in message


def test_the_display_format_is_three_three_four() -> None:
    assert format_nhs_number("9434765919") == "943 476 5919"


@pytest.mark.parametrize(
    ("stem", "check"),
    [
        pytest.param("943476591", 9, id="the worked example"),
        pytest.param("100000006", 0, id="11 becomes 0"),
        pytest.param("100000001", None, id="10 has no check digit"),
    ],
)
def test_check_digit_of_a_stem(stem: str, check: int | None) -> None:
    assert nhs_check_digit(stem) == check


def test_every_stem_with_a_check_digit_makes_a_valid_number() -> None:
    stems = [f"999{n:06d}" for n in range(0, 1000, 7)]

    made = [f"{stem}{check}" for stem in stems if (check := nhs_check_digit(stem)) is not None]

    assert made
    assert all(normalise_nhs_number(number) == number for number in made)
