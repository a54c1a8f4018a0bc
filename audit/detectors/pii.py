"""Personal data: e-mail addresses, phone numbers, card numbers, IBANs, US SSNs, national ids.

Pure functions over a string; checksums (Luhn, mod-97) keep random digit runs out.
"""

import re

from .base import Span

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)

# International (+CC ...), North-American (555) 123-4567 / 555-123-4567, or grouped national
# numbers starting with a trunk 0 (030 1234 5678). Plain digit runs are left to other detectors.
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}"
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}"
    r"|\d{3}[.-]\d{3}[.-]\d{4}"
    r"|0\d{1,4}[ /-]\d{3,4}[ -]?\d{3,5}"
    r")(?![\w-])"
)

_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[0689]|6(?:011|5|4[4-9]|22)|35)")

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
# Lengths of the countries most often seen; others are checked by mod-97 alone.
_IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "CH": 21, "CZ": 24, "DE": 22, "DK": 18, "ES": 24, "FI": 18, "FR": 27,
    "GB": 22, "IE": 22, "IT": 27, "LU": 20, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "SE": 24,
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
    expected = _IBAN_LENGTHS.get(compact[:2])
    if expected is not None and len(compact) != expected:
        return False
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def emails_find(text: str) -> list[Span]:
    return [Span(m.start(), m.end(), "email") for m in _EMAIL.finditer(text)]


def phones_find(text: str) -> list[Span]:
    spans = []
    for match in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 7 <= len(digits) <= 15:
            spans.append(Span(match.start(), match.end(), "phone"))
    return spans


def credit_cards_find(text: str) -> list[Span]:
    spans = []
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_valid(digits):
            spans.append(Span(match.start(), match.end(), "credit_card"))
    return spans


def ibans_find(text: str) -> list[Span]:
    spans = []
    for match in _IBAN.finditer(text):
        candidate = match.group().rstrip()
        if iban_valid(candidate):
            spans.append(Span(match.start(), match.start() + len(candidate), "iban"))
    return spans


def us_ssns_find(text: str) -> list[Span]:
    return [Span(m.start(), m.end(), "us_ssn") for m in _SSN.finditer(text)]


def national_ids_find(text: str, *, patterns: dict[str, re.Pattern]) -> list[Span]:
    """``patterns`` maps a name (``uk_nino``) to a compiled pattern (settings.REVIEW_NATIONAL_ID_PATTERNS)."""
    spans = []
    for name, pattern in patterns.items():
        spans.extend(Span(m.start(), m.end(), f"national_id:{name}") for m in pattern.finditer(text))
    return spans
