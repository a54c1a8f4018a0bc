"""``json_decode`` (msgspec's decoder, ``json.loads`` for what it refuses) gives what ``json.loads``
gives: the same value, of the same types, or an error of the same kind."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usage.db.json import json_decode, json_loads, json_shared


def _outcome(decode, text):
    """The value's repr (tells 1 from 1.0 and -0.0 from 0.0, keeps key order) or the error class
    callers catch."""
    try:
        return "value", repr(decode(text))
    except ValueError:
        return "error", "ValueError"
    except RecursionError:
        return "error", "RecursionError"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.text(st.characters(codec=None, categories=["Cs", "Cc", "Lo", "So"])),  # lone surrogates too
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES, st.booleans())
def test_documents_decode_as_json_loads_decodes_them(value, ensure_ascii):
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    assert _outcome(json_decode, text) == _outcome(json.loads, text)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES, st.booleans(), st.data())
def test_cut_documents_give_the_same_outcome(value, ensure_ascii, data):
    """Bodies are cut at 8,192 bytes: a document cut anywhere is refused (or read) as by json.loads."""
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    assert _outcome(json_decode, text[:cut]) == _outcome(json.loads, text[:cut])


# Text near JSON, mostly invalid: whatever json.loads refuses, json_decode refuses too.
NEAR_JSON = st.text(alphabet='{}[]:,"\\ 0123456789.eE+-tfnrulasNIyiu\ud800\x00\n\t', max_size=40)


@settings(max_examples=1500, deadline=None)
@given(NEAR_JSON)
def test_near_json_text_gives_the_same_outcome(text):
    assert _outcome(json_decode, text) == _outcome(json.loads, text)


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "[Infinity, -Infinity]",
        "1e400",  # a float past the range: inf for json.loads
        '"\\ud800"',  # a lone surrogate escape
        '"\\ud83d\\ude00"',
        "123456789012345678901234567890",  # past 64 bits: still an int
        "-123456789012345678901234567890",
        '{"a": 1, "b": 2, "a": 3}',  # a repeated key: the last value, at the first key's place
        "\ufeff{}",  # a byte order mark: refused by both
        '{"a": 1}x',
        '{"choices": [{"delta": {"content": "cut',  # a body cut at 8,192 bytes
        '"\\u0000"',
        " \n{}\t ",
        "[" * 2000 + "]" * 2000,  # deeper than the recursion limit
        "-Infinity",
        "[1, -Infinity]",
        "Infinity ",
        "",
        "  ",
        "-",
        '"cut',
        '{"a": "\\',
        '{"a": 1e',
        "[tru",
        b'{"a": "\xc3\xa9"}',
        '{"a": 1}'.encode("utf-16"),  # json.loads reads UTF-16 bytes
        b'{"a": "\xff"}',  # not UTF-8
    ],
)
def test_edge_cases_give_the_same_outcome(text):
    assert _outcome(json_decode, text) == _outcome(json.loads, text)


def test_shared_decoding_remembers_values_and_failures():
    with json_shared():
        first = json_loads('{"a": [1, 2]}')
        assert json_loads('{"a": [1, 2]}') is first
        errors = []
        for text in ('{"a": ', '{"a": ', "[1, 2"):  # decoded, remembered, decoded
            with pytest.raises(json.JSONDecodeError) as caught:
                json_loads(text)
            errors.append((caught.value.msg, caught.value.pos))
        assert errors[0] == errors[1] == ("Unterminated JSON document", 6) and errors[2][1] == 5
    assert json_loads('{"a": [1, 2]}') is not first


def test_shared_decoding_remembers_failures_of_bytes():
    with json_shared():
        for _ in range(2):  # decoded, then remembered
            with pytest.raises(json.JSONDecodeError) as caught:
                json_loads(b'{"a":\n [1, 2')
            assert (caught.value.lineno, caught.value.pos) == (2, 12)
