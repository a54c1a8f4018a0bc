"""rows_store under attack (property-based): arbitrary JSON values in any field of a row of each
table, and arbitrary whole rows. Whatever comes in, no exception escapes, every row is accounted
for (read = stored + duplicates + conflicts + skipped + rejected), and good rows stored afterwards
are all stored. On PostgreSQL (bin/test) and, through a subprocess, on SQLite.
"""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.ingestion_rows import GATEWAY_ROW, LLM_ROW, NATIVE_ROW
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE

BASE_ROWS = {GATEWAY: GATEWAY_ROW, NATIVE: NATIVE_ROW, LLM_LOG: LLM_ROW}
_ids = itertools.count(1)

HOSTILE = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "40")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)

# Text with what databases refuse or drop: lone surrogates, NUL, control characters.
_texts = st.one_of(
    st.text(st.characters(categories=["Cs", "Cc", "Lu", "Ll", "Nd", "Zs", "So"]), max_size=12),
    st.sampled_from(
        ["\ud800", "a\x00b", "x\udfffy", "NaN", "Infinity", "-1", "1e400", "0001-01-01T00:00:00Z"]
    ),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**62, max_value=2**90) | st.integers(min_value=-(2**90), max_value=-(2**62)),
    st.floats(allow_nan=True, allow_infinity=True),
    _texts,
)
_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_texts, children, max_size=3),
    max_leaves=6,
)


def _fresh(table: str) -> dict:
    """The table's valid sample row under a correlation id no other example uses."""
    row = dict(BASE_ROWS[table])
    row["CorrelationId"] = f"hostile-{next(_ids)}"
    return row


def _hostile_rows(table: str) -> st.SearchStrategy[list]:
    changed = st.builds(
        lambda changes, table=table: {**_fresh(table), **changes},
        st.dictionaries(st.sampled_from(sorted(BASE_ROWS[table])), _json, min_size=1, max_size=3),
    )
    whole = st.dictionaries(_texts, _json, max_size=4) | _json
    return st.lists(changed | whole, min_size=1, max_size=4)


@pytest.mark.slow
@pytest.mark.parametrize("table", [GATEWAY, NATIVE, LLM_LOG])
def test_arbitrary_values_in_any_field_never_escape_and_every_row_is_accounted_for(db, table):
    @HOSTILE
    @given(rows=_hostile_rows(table))
    def attack(rows):
        result = rows_store(table=table, rows=rows)
        assert result.rows_read == len(rows) == result.accounted, result

    attack()
    # Whatever the attack stored (rows dated 0001 by an old version included), good rows still go in.
    good = [_fresh(table) for _ in range(3)]
    after = rows_store(table=table, rows=good)
    assert (after.rows_read, after.stored, after.rejected) == (3, 3, 0), after


@pytest.mark.slow
@pytest.mark.skipif(connection.vendor == "sqlite", reason="this is the SQLite leg itself")
def test_the_same_attack_on_sqlite(tmp_path):
    root = Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'hostile.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "aoai_portal.settings",
        "HOSTILE_EXAMPLES": "25",
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider", "-k", "arbitrary"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "3 passed" in done.stdout


def test_the_samples_themselves_are_stored(db):
    for table in BASE_ROWS:
        result = rows_store(table=table, rows=[_fresh(table)])
        assert result.stored == 1, (table, json.dumps(result.reasons))
