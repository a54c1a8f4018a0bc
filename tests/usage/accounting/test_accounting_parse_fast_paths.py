"""The cheaper readers of ``usage.accounting.parse`` give what the plain ones gave.

Each test pins a case one of the fast paths could get wrong (SSE line split, the byte count
of streamed lines, decoding of cut JSON strings, cached URL and model readings).
"""

import json

import pytest

from tests.support import accounting_samples as s
from usage.accounting.parse.inputs import NativeInput, RequestInput
from usage.accounting.parse.parser import usage_parse
from usage.accounting.tokens import tokens_count

pytestmark = pytest.mark.django_db


def parse(response_body: str | bytes, *, request_body: str = "", url: str = s.CHAT_URL, native=None):
    return usage_parse(
        request=RequestInput(
            url=url, response_code=200, request_body=request_body, response_body=response_body
        ),
        native=native,
    )


def chunk(content: str, **extra) -> str:
    return s.dumps({"choices": [{"index": 0, "delta": {"content": content}, **extra}], "model": "gpt-4o"})


# --- SSE lines ----------------------------------------------------------------------------------


def test_sse_lines_split_on_newline_and_crlf_only_and_keep_a_lone_cr_in_the_line():
    body = (
        f"data: {chunk('a')}\r\n\r\n"
        f"data:{chunk('b')}\n\n"  # no space after "data:"
        f" data: {chunk('not a data line')}\n\n"  # indented: not a data line
        f"data: {chunk('c')}\rdata: {chunk('d')}\n\n"  # a lone CR: one (unreadable) line
        f"data: {chunk('e')} \t\n\n"
        "data: [DONE]\n"
    )
    result = parse(body)
    assert result.completion_text == "abe"
    assert result.is_truncated is False


def test_sse_payloads_that_are_not_objects_or_lack_choices_are_skipped():
    body = "".join(
        f"data: {p}\n\n"
        for p in ("[]", '"x"', "1", "null", '{"choices":"x","usage":[]}', '{"choices":[1,null]}', chunk("ok"))
    )
    result = parse(body + "data: [DONE]\n\n")
    assert (result.completion_text, result.is_truncated, result.token_source) == ("ok", False, "estimated")


def test_a_cut_last_sse_line_is_read_as_partial_text_and_marks_the_body_cut():
    body = f"data: {chunk('one')}\n\n" + 'data: {"choices":[{"index":0,"delta":{"content":"tw\\u00e9 \\'
    result = parse(body)
    assert result.completion_text == "onetwé "
    assert result.is_truncated is True


def test_a_cut_stream_is_scaled_at_the_bytes_per_token_of_the_lines_that_carried_text():
    # (line, carries text): non-ASCII content (bytes are not characters), and lines where the
    # compact "content":"x is absent, empty or only later in the line.
    lines = [
        (s.dumps({"choices": [], "prompt_filter_results": s.PROMPT_FILTERS}), False),
        (chunk(""), False),  # an empty content does not count as a text line
        *((chunk(word), True) for word in ["Überweisung", " 請求書", " données", " 🙂"]),
        ('{"choices":[{"index":0,"delta":{"content" : " spaced"}}]}', True),
        ('{"choices":[{"index":0,"delta":{"content":""},"text":" later"}]}', True),
        ('{"choices":[{"index":0,"delta":{"role":"assistant","content":"', False),  # cut: unreadable
    ]
    body = "".join(f"data: {line}\n\n" for line, _ in lines).strip()
    full_length = len(body.encode()) * 4
    result = parse(body, native=NativeInput(model_name="gpt-4o", response_length=full_length))
    text = "Überweisung 請求書 données 🙂 spaced later"
    tokens = tokens_count(text, model="gpt-4o")
    text_line_bytes = sum(len(line.encode()) + 8 for line, carries_text in lines if carries_text)
    expected = round(tokens + (full_length - len(body.encode())) / (text_line_bytes / tokens))
    assert result.completion_text == text
    assert result.completion_tokens == expected
    assert result.reason == "response cut, completion scaled by responseLength"


def test_content_filter_results_repeated_by_each_chunk_are_merged_once_and_changes_kept():
    safe = {"hate": {"filtered": False, "severity": "safe"}}
    hit = {"hate": {"filtered": True, "severity": "high"}}
    body = "".join(
        f"data: {chunk(c, content_filter_results=f)}\n\n"
        for c, f in (("a", safe), ("b", safe), ("c", hit), ("d", {}))
    )
    result = parse(body + "data: [DONE]\n\n")
    assert result.content_filter["filtered_categories"] == ["hate"]
    assert result.content_filter["completion"] == {"0": {"hate": {"filtered": True, "severity": "high"}}}


# --- cached URL and model readings --------------------------------------------------------------


def test_the_cached_url_reading_keeps_each_request_s_own_fallbacks():
    url = f"{s.BASE}/openai/custom/route"  # no api-version, deployment or known operation
    first = usage_parse(
        request=RequestInput(url=url, operation_id="ChatCompletions_Create", api_version="v1")
    )
    second = usage_parse(request=RequestInput(url=url, operation_id="Embeddings_Create", api_version="v2"))
    third = usage_parse(request=RequestInput(url=url, deployment="from-row"))
    assert (first.operation, first.api_version) == ("chat", "v1")
    assert (second.operation, second.api_version) == ("embeddings", "v2")
    assert (third.operation, third.api_version, third.deployment) == ("other", "", "from-row")
    # The URL's own values win over the request's, however often the URL was read before.
    for _ in range(2):
        result = usage_parse(request=RequestInput(url=s.CHAT_URL, api_version="v9", deployment="other"))
        assert (result.operation, result.api_version, result.deployment) == (
            "chat",
            "2024-10-21",
            "gpt4o-prod",
        )


def test_url_paths_are_read_as_before():
    cases = {
        "/openai/deployments/My%20Dep/embeddings?api-version=1": ("embeddings", "1", "My Dep"),
        "openai/threads/t1/runs": ("assistants", "", ""),
        "https://h/openai/v1/responses/resp_1/": ("responses", "", ""),
        "https://h/openai/deployments/d/chat/completions/": ("chat", "", "d"),
        "  https://h/openai/deployments/d/images/generations?api-version=a&api-version=b  ": (
            "image",
            "a",
            "d",
        ),
    }
    for url, expected in cases.items():
        result = usage_parse(request=RequestInput(url=url))
        assert (result.operation, result.api_version, result.deployment) == expected, url


def test_a_url_that_cannot_be_split_is_a_parser_error_every_time():
    for _ in range(2):
        result = usage_parse(request=RequestInput(url="https://[broken/openai/chat/completions"))
        assert result.token_source == "unknown"
        assert result.reason.startswith("parser error: ValueError")


# --- cut JSON strings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("plain text, no escape", "plain text, no escape"),
        ("tab\\tx\\u00e9\\u00", "tab\txé"),  # an escape cut in half is dropped
        ('quote \\" and back\\\\slash\\', 'quote " and back\\slash'),
        ("abc\ndef", "abc"),  # a raw control character: json.loads refuses it, so cut until it parses
        ("a\x01bcdefgh", "a\x01bcdefgh"),  # ... or, when cutting cannot help, kept as it is
        ("Überweisung 請求書 🙂", "Überweisung 請求書 🙂"),
    ],
)
def test_the_readable_text_of_a_cut_answer_is_decoded_as_json_would(content, expected):
    body = '{"model":"gpt-4o","choices":[{"message":{"role":"assistant","content":"' + content
    result = parse(body, url=f"{s.BASE}/openai/deployments/d/chat/completions")
    assert result.completion_text == expected
    assert result.is_truncated is True


def test_the_model_of_a_cut_request_is_read_with_its_escapes():
    request_body = '{"model":"gpt-4o\\u002dmini","messages":[{"role":"user","content":"' + "x" * 50
    result = parse("", request_body=request_body, url=f"{s.BASE}/openai/v1/chat/completions")
    assert result.deployment == "gpt-4o-mini"
    cut_answer = parse('{"id":"1","model":"gpt-4o-2024-08-06","choices":[{"message":{"content":"par')
    assert (cut_answer.model, cut_answer.model_version) == ("gpt-4o", "2024-08-06")


def test_token_numbers_that_are_floats_or_text_are_read_as_before():
    # Negative counts and booleans are no report (issue 21): the tokens are estimated, with a note.
    usage = {"prompt_tokens": -5, "completion_tokens": True, "total_tokens": 7}
    result = parse(s.chat_response("hi", usage=usage))
    assert result.token_source == "estimated" and result.prompt_tokens > 0
    assert result.reason.startswith("usage in the response unusable (prompt_tokens: -5)")
    usage = {
        "prompt_tokens": 12.9,
        "completion_tokens": " 30 ",
        "prompt_tokens_details": {"cached_tokens": 4},
    }
    result = parse(s.chat_response("hi", usage=usage))
    assert (result.prompt_tokens, result.completion_tokens, result.cached_tokens) == (12, 30, 4)
    assert result.total_tokens == 42


# --- what services stores -----------------------------------------------------------------------


def test_stored_text_and_filter_json_are_cleaned_as_before():
    from usage.accounting.services import _clean, _clean_json

    assert _clean("plain ascii\x00 text", 8) == "plain as"
    assert _clean("é\ud800x\x00", 10) == "é?x"
    empty: dict = {}
    assert _clean_json(empty)[0] is empty
    plain = {"hate": {"filtered": False, "severity": "safe"}, "note": "é 🙂"}
    assert _clean_json(plain)[0] is plain
    cleaned, text = _clean_json({"a": "x\x00y", "b": ["\ud800"]})
    assert cleaned == {"a": "xy", "b": ["?"]} == json.loads(text)


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/event-stream; charset=utf-8"},
        {"content-type": "application/json", "CONTENT-TYPE": "text/event-stream"},  # the last spelling wins
        '{"Content-Type": "text/event-stream"}',
        [{"name": "Content-Type", "value": "text/event-stream"}],
    ],
)
def test_a_text_event_stream_response_header_marks_the_request_streamed(headers):
    result = usage_parse(
        request=RequestInput(url=s.CHAT_URL, response_code=429, request_body="{}", response_headers=headers)
    )
    assert result.is_streaming is True


@pytest.mark.parametrize(
    "headers",
    [{"content-type": "text/event-stream", "Content-Type": "application/json"}, {}, None, "not json", [1]],
)
def test_other_response_headers_do_not(headers):
    result = usage_parse(
        request=RequestInput(url=s.CHAT_URL, response_code=429, request_body="{}", response_headers=headers)
    )
    assert result.is_streaming is False


@pytest.mark.parametrize(
    ("usage", "why"),
    [
        ({"prompt_tokens": -14, "completion_tokens": 5, "total_tokens": -9}, "prompt_tokens: -14"),
        ({"prompt_tokens": float("nan"), "completion_tokens": 5}, "prompt_tokens: nan"),
        ({"prompt_tokens": 14, "completion_tokens": float("inf")}, "completion_tokens: inf"),
        ({"input_tokens": 3, "output_tokens": -1}, "output_tokens: -1"),
        (
            {"prompt_tokens": 3, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": -2}},
            "prompt_tokens_details.cached_tokens: -2",
        ),
    ],
)
def test_negative_or_nan_usage_is_estimated_not_reported(usage, why):
    result = parse(s.chat_response("Chennai is the capital of Tamil Nadu.", usage=usage))
    assert result.token_source == "estimated"
    assert result.reason.startswith(f"usage in the response unusable ({why})")
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
