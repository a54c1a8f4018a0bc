"""The cheaper paths of the ingestion core give exactly what the general ones give.

Each fast path is compared with the general code it skips, over a table of odd inputs and over
generated rows (``usage.demo_data``), so a fast path that reads one value differently fails here.
"""

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from usage.demo_data import generate_logs
from usage.ingestion.rows import _datetime_parse_general, datetime_parse
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE

START = datetime(2025, 3, 1, tzinfo=UTC)


def _outcome(function: Any, value: Any) -> Any:
    """What a call gives: its value (repr: the offset and type count), or its exception type."""
    try:
        return repr(function(value))
    except Exception as error:  # noqa: BLE001 - the general path may raise on extreme dates
        return type(error).__name__


def _datetime_parse_reference(value: Any) -> datetime | None:
    """``datetime_parse`` without its fast path: every text through the general reading."""
    if not isinstance(value, str):
        return datetime_parse(value)
    text = value.strip()
    parsed = _datetime_parse_general(text) if text else None
    if parsed is None:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- datetime_parse -----------------------------------------------------------------------------

ODD_TIMES = [
    "2024-07-02T06:31:31.4465902Z",  # Log Analytics: 7 digits and Z
    "2024-07-02T06:31:31.4465909999999Z",  # more digits: cut, not rounded
    "2024-07-02T06:31:31.446590Z",
    "2024-07-02T06:31:31.4Z",
    "2024-07-02T06:31:31Z",
    "2024-07-02T06:31Z",
    "2024-07-02T06Z",
    "2024-07-02T06:31:31",  # naive: read as UTC
    "2024-07-02 06:31:31.1234567",
    " 2024-07-02T06:31:31.4465902Z\n",
    "2024-07-02T06:31:31.1234567+05:30",
    "2024-07-02T06:31:31.1234567-0130",
    "2024-07-02T06:31:31+01:02:03.1234567",
    "2024-07-02T06:31:31,4465902Z",
    "2024-07-02T06:31:31.4465902z",
    "2024-07-02T06:31:31.4465902ZZ",
    "2024-07-02T06:31:31.123Z+00:00",
    "2024-07-02T24:00:00Z",
    "2024-02-30T06:31:31Z",
    "0001-01-01T00:00:00.1234567+01:00",  # out of range once in UTC
    "9999-12-31T23:59:59.9999999-01:00",
    "2024-07-02",
    "2024-07-02Z",
    "2024-07-02Z06:31:31",  # "Z" as separator: the general path refuses it
    "2024-07-02.063131456+00:00",  # "." as separator: the general path reads it differently
    "2024-07-02t06:31:31Z",
    "20240702T063131.1234567Z",
    "2024-W27-2T06:31:31Z",
    "7/2/2024, 6:31:31.446 AM",  # the portal's CSV formats
    "11/25/2026, 1:05:00 PM",
    "07/02/2024 06:31:31 AM",
    "last tuesday",
    "",
    "   ",
    "\x00",
]


@pytest.mark.parametrize("value", ODD_TIMES)
def test_datetime_parse_gives_what_the_general_path_gives(value):
    assert _outcome(datetime_parse, value) == _outcome(_datetime_parse_reference, value)


def test_datetime_parse_gives_what_the_general_path_gives_on_mutated_times():
    dates = ["2024-07-02", "20240702", "2024-W27-2", "2024-184", "0001-01-01", "9999-12-31"]
    times = ["06:31:31", "063131", "06:31", "06", "24:00:00", "23:59:60"]
    fractions = ["", ".", ".1", ".123456", ".1234567", ".123456789012", ",1234567"]
    zones = ["", "Z", "z", "ZZ", "+00:00", "-01:30", "+0130", "+01:02:03.1234567", " Z", "UTC"]
    texts = [
        date + separator + time + fraction + zone
        for date, separator, time, fraction, zone in itertools.product(
            dates, ["T", " ", "Z", "."], times, fractions, zones
        )
    ]
    rng = random.Random(7)
    for text in rng.sample(texts, 3000):
        chars = list(text)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(chars))
            chars[at : at + rng.randint(0, 1)] = rng.choice("0123456789.:-+TZz ,")
        texts.append("".join(chars))
    differ = [t for t in texts if _outcome(datetime_parse, t) != _outcome(_datetime_parse_reference, t)]
    assert differ == []


def test_datetime_parse_gives_what_the_general_path_gives_on_generated_rows():
    logs = generate_logs(start=START, end=START + timedelta(hours=2), requests_per_hour=60, seed=5)
    values = [row.get("TimeGenerated") for table in (GATEWAY, NATIVE, LLM_LOG) for row in logs[table]]
    assert any(isinstance(v, str) and v.endswith("Z") for v in values)
    assert [_outcome(datetime_parse, v) for v in values] == [
        _outcome(_datetime_parse_reference, v) for v in values
    ]
