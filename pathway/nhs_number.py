"""NHS number normalisation and the Modulus 11 check (clinical-research.md 9.1, source I1)."""

from __future__ import annotations

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def normalise_nhs_number(raw: str) -> str:
    """Return the ten digits of an NHS number written with spaces or dashes.

    Args:
        raw: the number as typed (``943 476 5919``, ``943-476-5919``).

    Returns:
        The ten digits without separators.

    Raises:
        ValueError: not ten digits, a repeated digit, or the check digit is wrong. The
            message never repeats the number.
    """
    digits = raw.replace(" ", "").replace("-", "")
    if len(digits) != 10 or not digits.isascii() or not digits.isdigit():
        raise ValueError("an NHS number has exactly 10 digits")
    if len(set(digits)) == 1:
        # Every repdigit passes Modulus 11; none is ever issued (9.1 pitfalls).
        raise ValueError("an NHS number cannot be ten repeated digits")
    total = sum(int(d) * w for d, w in zip(digits[:9], _WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10 or check != int(digits[9]):
        raise ValueError("the NHS number fails the Modulus 11 check")
    return digits


def format_nhs_number(digits: str) -> str:
    """Display ten digits as 3-3-4 (``943 476 5919``), the NHS display format."""
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def nhs_check_digit(stem: str) -> int | None:
    """Return the check digit for a nine-digit stem, or None when no check digit exists.

    Used by the simulator to make valid test-range numbers (999 xxx xxxx).
    """
    total = sum(int(d) * w for d, w in zip(stem, _WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check
