"""Personal data: e-mail addresses, phone numbers, card numbers, IBANs, US SSNs, national ids.

Pure functions over a string; checksums (Luhn, mod-97) keep random digit runs out.

They run over every message of every request, so each first makes a check that any match needs
and that costs a fraction of the pattern (an "@" for e-mail, a digit for the numeric kinds): most
messages have neither, and the answer is the same with or without the check.
"""

import re
from collections.abc import Iterable
from typing import Any

try:  # CPython's pattern parser, to read what a configured pattern needs (pattern_requires_digit)
    from re import _constants as _sre
    from re import _parser as _sre_parser
except ImportError:  # pragma: no cover - another Python: no shortcut, same results
    _sre = _sre_parser = None

from .base import Span

# The same \d as the patterns' (Unicode digits), so "no digit here" means "no match here".
_DIGIT = re.compile(r"\d")

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)

# International (+CC ...), North-American (555) 123-4567 / 555-123-4567, or grouped national
# numbers starting with a trunk 0 (030 1234 5678). Plain digit runs are left to other detectors.
# Not a piece of a longer run of digit groups (a card number or IBAN that failed its checksum).
_PHONE = re.compile(
    r"(?<![\w+])(?<!\d[ .-])(?:"
    r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}"
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"
    r"|\d{3}[.-]\d{3}[.-]\d{4}"
    r"|0\d{1,4}[ /-]\d{3,4}[ -]?\d{3,5}"
    r")(?![\w-])(?![ .]\d)"
)

# Digits run on from letters ("JD0123...", "SO4111...") are a tracking or order id, not a card.
_CARD = re.compile(r"(?<![\dA-Za-z-])(?:\d[ -]?){12,18}\d(?![\dA-Za-z-])")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|6(?:011|5|4[4-9]|22)|35)")

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
# Every country of the IBAN registry (SWIFT) with its IBAN length: two capitals and two digits
# that are no country's, or of another length, are an identifier, not an IBAN (1 in 97 of them
# would pass mod-97 alone).
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    compact = iban.replace(" ", "").upper()
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def has_digit(text: str) -> bool:
    if text.isascii():  # ten memchr scans beat the regex engine's per-character loop
        return any(digit in text for digit in "0123456789")
    return _DIGIT.search(text) is not None


def emails_find(text: str) -> list[Span]:
    if "@" not in text:
        return []
    return [Span(m.start(), m.end(), "email") for m in _EMAIL.finditer(text)]


def phones_find(text: str) -> list[Span]:
    if not has_digit(text):
        return []
    spans = []
    for match in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 7 <= len(digits) <= 15:
            spans.append(Span(match.start(), match.end(), "phone"))
    return spans


def credit_cards_find(text: str) -> list[Span]:
    if not has_digit(text):
        return []
    spans = []
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_valid(digits):
            spans.append(Span(match.start(), match.end(), "credit_card"))
    return spans


def ibans_find(text: str) -> list[Span]:
    if not has_digit(text):
        return []
    spans = []
    for match in _IBAN.finditer(text):
        candidate = match.group().rstrip()
        if iban_valid(candidate):
            spans.append(Span(match.start(), match.start() + len(candidate), "iban"))
    return spans


def us_ssns_find(text: str) -> list[Span]:
    if not has_digit(text):
        return []
    return [Span(m.start(), m.end(), "us_ssn") for m in _SSN.finditer(text)]


def national_ids_find(text: str, *, patterns: dict[str, re.Pattern[str]]) -> list[Span]:
    """``patterns`` maps a name (``uk_nino``) to a compiled pattern (settings.REVIEW_NATIONAL_ID_PATTERNS)."""
    spans: list[Span] = []
    digit: bool | None = None
    for name, pattern in patterns.items():
        if pattern_requires_digit(pattern):
            if digit is None:
                digit = has_digit(text)
            if not digit:
                continue
        spans.extend(Span(m.start(), m.end(), f"national_id:{name}") for m in pattern.finditer(text))
    return spans


_REQUIRES_DIGIT: dict[tuple[str, int], bool] = {}


def pattern_requires_digit(pattern: re.Pattern[str]) -> bool:
    """True when every match of ``pattern`` contains a ``\\d`` (so text without digits can be skipped).

    Read from the parsed pattern: a top-level ``\\d`` (or a group, repeat of at least one, or
    every branch of an alternation that has one). False whenever unsure: the check is then skipped.
    """
    key = (pattern.pattern, pattern.flags)
    found = _REQUIRES_DIGIT.get(key)
    if found is None:
        try:
            found = (
                _sre_parser is not None
                and isinstance(pattern.pattern, str)
                and _sequence_requires_digit(_sre_parser.parse(pattern.pattern, pattern.flags))
            )
        except Exception:  # noqa: BLE001 - a private parser that changed: no shortcut, same result
            found = False
        _REQUIRES_DIGIT[key] = found
    return found


def _sequence_requires_digit(items: Iterable[tuple[Any, Any]]) -> bool:
    for op, av in items:
        if op is _sre.IN and av == [(_sre.CATEGORY, _sre.CATEGORY_DIGIT)]:
            return True
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT):
            if av[0] >= 1 and _sequence_requires_digit(av[2]):
                return True
        elif op is _sre.SUBPATTERN:
            if _sequence_requires_digit(av[3]):
                return True
        elif op is _sre.ATOMIC_GROUP:
            if _sequence_requires_digit(av):
                return True
        elif op is _sre.BRANCH:
            if all(_sequence_requires_digit(branch) for branch in av[1]):
                return True
    return False
