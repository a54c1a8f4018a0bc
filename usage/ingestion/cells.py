"""The cells of one Log Analytics row, read without raising: text, numbers, booleans, times,
keys and ``dynamic`` JSON. A key that cannot be used rejects the row (``Rejection``); any other
value that cannot be used comes back empty, with a note for the record's ``ingest_notes``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from usage.db.json import json_decode, json_dumps, json_nul_escapes_drop

from .credentials import raw_text_scrub

KEY_MAX_LENGTH = 64  # correlation ids and request ids (GUIDs) are keys: longer ones are rejected
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_NON_NEGATIVE = (0, 2**63 - 1)
# A time outside [TIME_MIN, now + TIME_AHEAD) is not a log time (0001-01-01, 9999-12-31, 1900...):
# the row is rejected. Azure OpenAI did not exist before 2015.
TIME_MIN = datetime(2015, 1, 1, tzinfo=UTC)
TIME_AHEAD = timedelta(days=1)
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Rejection:
    """Why a row cannot be stored. ``kind`` is stable (for grouping); ``detail`` names the value."""

    kind: str
    detail: str = ""

    @property
    def reason(self) -> str:
        return f"{self.kind}: {self.detail}" if self.detail else self.kind


class _Bad(Exception):
    """Raised inside a parser; turned into a Rejection at its boundary."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.rejection = Rejection(kind, detail)


def _show(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)  # escapes lone surrogates and NULs
    except ValueError:  # an int of more than 4,300 digits
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def has_surrogate(text: str) -> bool:
    """True if ``text`` holds a lone surrogate (from a ``"\\ud800"`` escape), which no database
    can store as text."""
    return not text.isascii() and _SURROGATE.search(text) is not None


class _Cells:
    """Column lookup: exact name first, then case-insensitive. Non-key values that cannot be used
    come back empty, with a note in ``notes``."""

    __slots__ = ("_row", "_lower", "notes")

    def __init__(self, row: Mapping[str, Any]) -> None:
        self._row = row
        self._lower: dict[str, Any] | None = None
        self.notes: list[str] = []

    def note(self, name: str, why: str, value: Any) -> None:
        # A note shows the value's head; a credential in it is redacted first (see ``credentials``).
        shown = raw_text_scrub(value) if isinstance(value, str) else value
        self.notes.append(f"{name}: {why} ({_show(shown, 40)})")

    def raw(self, name: str) -> Any:
        if name in self._row:
            return self._row[name]
        if self._lower is None:
            self._lower = {str(key).lower(): value for key, value in self._row.items()}
        return self._lower.get(name.lower())

    def text(self, name: str) -> str:
        value = self.raw(name)
        if type(value) is str and "\x00" not in value:
            return value  # the usual cell: nothing to convert
        try:
            return _as_text(value)
        except (ValueError, RecursionError):  # an int too long to print, a document too deep
            self.note(name, "not printable", value)
            return ""

    def integer(self, name: str, bounds: tuple[int, int] = _INT64) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        number = _as_number(value)
        if number is None or number != int(number):
            self.note(name, "not an integer", value)
            return None
        number = int(number)
        if not bounds[0] <= number <= bounds[1]:
            self.note(name, "negative" if number < 0 <= bounds[0] else "out of range", value)
            return None
        return number

    def number(self, name: str, *, non_negative: bool = False) -> float | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        number = _as_number(value)
        if number is None:
            self.note(name, "not finite" if _is_non_finite(value) else "not a number", value)
            return None
        if non_negative and number < 0:
            self.note(name, "negative", value)
            return None
        try:
            return float(number)
        except OverflowError:  # an int past a float's range
            self.note(name, "out of range", value)
            return None

    def boolean(self, name: str) -> bool | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower() if isinstance(value, str | int) else ""
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        self.note(name, "not a boolean", value)
        return None

    def moment(self, name: str) -> datetime:
        value = self.raw(name)
        if value is None or value == "":
            raise _Bad(f"{name}: missing")
        parsed = datetime_parse(value)
        if parsed is None:
            raise _Bad(f"{name}: not a datetime", _show(value))
        if parsed < TIME_MIN:
            raise _Bad(f"{name}: out of range", f"{_show(value)} is before {TIME_MIN:%Y-%m-%d}")
        if parsed > datetime.now(UTC) + TIME_AHEAD:
            raise _Bad(f"{name}: out of range", f"{_show(value)} is more than a day ahead")
        return parsed

    def key(self, name: str) -> str:
        raw = self.raw(name)
        if isinstance(raw, bool | dict | list | float):
            raise _Bad(f"{name}: not a text", _show(raw))
        if isinstance(raw, int) and not _INT64[0] <= raw <= _INT64[1]:
            raise _Bad(f"{name}: longer than {KEY_MAX_LENGTH} characters", _show(raw))
        value = _as_text(raw).strip().lower()
        if not value:
            raise _Bad(f"{name}: missing")
        if len(value) > KEY_MAX_LENGTH:
            raise _Bad(f"{name}: longer than {KEY_MAX_LENGTH} characters", _show(value))
        if has_surrogate(value):
            raise _Bad(f"{name}: lone surrogate", _show(value))
        return value

    def dynamic(self, name: str) -> Any:
        """A ``dynamic`` cell: JSON text or an object; empty or not JSON -> None (noted)."""
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            try:
                return json_decode(text)
            except (ValueError, RecursionError):
                self.note(name, "not JSON", value)
                return None
        return value


def _notes(cells: _Cells) -> str:
    return "; ".join(cells.notes)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict | list):
        return json_nul_escapes_drop(json_dumps(value, ensure_ascii=False))
    return str(value)


_INFINITY = (float("inf"), float("-inf"))


def _is_non_finite(value: Any) -> bool:
    """NaN or an infinity, as a float or as text ("NaN", "Infinity", "-inf")."""
    if isinstance(value, float):
        return value != value or value in _INFINITY
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return False
        return number != number or number in _INFINITY
    return False


def _as_number(value: Any) -> float | int | None:
    """A finite number (int or float) or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if value - value == 0 else None  # NaN and infinities are not numbers here
    if not isinstance(value, str):
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    if number.is_integer() and "." not in value:
        try:
            return int(value.strip())  # exact, past a float's 53 bits
        except ValueError:  # "1e3"
            return int(number)
    return number


_PORTAL_FORMATS = ("%m/%d/%Y, %I:%M:%S.%f %p", "%m/%d/%Y, %I:%M:%S %p", "%m/%d/%Y %I:%M:%S %p")
_FRACTION = re.compile(r"(\.\d{6})\d+")
_ISO_SEPARATORS = ("T", " ")


def datetime_parse(value: Any) -> datetime | None:
    """ISO 8601 (any fraction digits, ``Z``), the portal's CSV format, or a datetime; UTC-aware."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    # Fast path: Python 3.11+ reads a final "Z" and 7-digit fractions (cut to microseconds, as
    # the general path does) itself, so Log Analytics times need no rewrite. Only for the usual
    # "YYYY-MM-DDThh..." shape: fromisoformat takes any character as the date/time separator
    # ("Z", "."), where the general path's rewrite refuses or reads the text differently.
    parsed = None
    if text[10:11] in _ISO_SEPARATORS and text.find("Z", 0, len(text) - 1) == -1:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            pass
    if parsed is None:
        parsed = _datetime_parse_general(text)
        if parsed is None:
            return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _datetime_parse_general(text: str) -> datetime | None:
    """``datetime_parse`` of a stripped, non-empty text without its fast path (naive or aware)."""
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", text).replace("Z", "+00:00"))
    except ValueError:
        pass
    for fmt in _PORTAL_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None
