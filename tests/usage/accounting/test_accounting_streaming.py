"""Streamed answers, bodies cut at 8,192 bytes, and input that is not JSON at all."""

import json

import pytest
import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import accounting_samples as s
from usage.accounting.parse.inputs import LlmLogInput, NativeInput, RequestInput
from usage.accounting.parse.parser import usage_parse

pytestmark = pytest.mark.django_db

PIECES = ["Travel", " spend", " rose", " 12", "%", " in", " Q3", ",", " mostly", " customer", " visits", "."]
TEXT = "".join(PIECES)


def enc(model_encoding: str) -> tiktoken.Encoding:
    from usage.accounting.tokens import encoding_get

    return encoding_get(model_encoding)


def cookbook_prompt_tokens(
    messages: list[dict], encoding: tiktoken.Encoding, tools: list | None = None
) -> int:
    """The OpenAI cookbook formula, written out independently of the code under test."""
    total = 3
    for message in messages:
        total += 3
        for key, value in message.items():
            total += len(encoding.encode(value))
            if key == "name":
                total += 1
    if tools:
        total += len(encoding.encode(json.dumps(tools)))
    return total


def parse(request_body: str, response_body: str, **kw):
    native = kw.pop("native", None)
    llm_log = kw.pop("llm_log", None)
    return usage_parse(
        request=RequestInput(
            url=s.CHAT_URL, response_code=200, request_body=request_body, response_body=response_body
        ),
        native=native,
        llm_log=llm_log,
    )


def test_it_takes_usage_from_the_usage_chunk_even_when_an_annotation_follows():
    usage = {
        "completion_tokens": 12,
        "prompt_tokens": 39,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 51,
    }
    body = s.sse(s.chat_stream_chunks(PIECES, usage=usage, annotation_after=True))
    result = parse(s.chat_request(s.MESSAGES, stream=True, stream_options={"include_usage": True}), body)
    assert result.is_streaming and not result.is_truncated
    assert (result.token_source, result.prompt_tokens, result.completion_tokens) == ("reported", 39, 12)
    assert result.completion_text == TEXT
    assert result.model == "gpt-4o"
    assert result.finish_reason == "stop"


def test_it_estimates_a_stream_without_usage_with_the_model_tokenizer():
    body = s.sse(s.chat_stream_chunks(PIECES))
    result = parse(s.chat_request(s.MESSAGES, stream=True), body)
    o200k = enc("o200k_base")
    assert result.token_source == "estimated"
    assert result.completion_text == TEXT
    assert result.completion_tokens == len(o200k.encode(TEXT))
    assert result.prompt_tokens == cookbook_prompt_tokens(s.MESSAGES, o200k)
    assert result.total_tokens == result.prompt_tokens + result.completion_tokens
    assert not result.is_truncated


def test_it_estimates_gpt35_streams_with_cl100k():
    body = s.sse(s.chat_stream_chunks(PIECES, model="gpt-35-turbo"))
    result = parse(s.chat_request(s.MESSAGES, stream=True), body)
    cl100k = enc("cl100k_base")
    assert result.model == "gpt-35-turbo"
    assert result.prompt_tokens == cookbook_prompt_tokens(s.MESSAGES, cl100k)
    assert result.completion_tokens == len(cl100k.encode(TEXT))


def test_it_reassembles_streamed_tool_call_arguments_and_counts_tools_in_the_prompt():
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather of a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    body = s.sse(s.chat_stream_chunks([], tool_call=("get_weather", ['{"ci', 'ty": "O', 'slo"}'])))
    result = parse(s.chat_request(s.MESSAGES, stream=True, tools=tools), body)
    o200k = enc("o200k_base")
    assert result.tool_calls == [{"id": "call_8fRk2", "name": "get_weather", "arguments": '{"city": "Oslo"}'}]
    assert result.finish_reason == "tool_calls"
    assert result.completion_tokens == len(o200k.encode("get_weather")) + len(
        o200k.encode('{"city": "Oslo"}')
    )
    assert result.prompt_tokens == cookbook_prompt_tokens(s.MESSAGES, o200k, tools)


def test_it_reads_a_responses_api_stream():
    events = [
        {
            "type": "response.created",
            "response": {
                "id": "resp_1",
                "status": "in_progress",
                "model": "gpt-4.1-2025-04-14",
                "usage": None,
            },
        },  # noqa: E501
        {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "delta": "Hello"},
        {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "delta": " there"},
        {
            "type": "response.completed",
            "response": {
                "id": "resp_1",
                "status": "completed",
                "model": "gpt-4.1-2025-04-14",
                "usage": {
                    "input_tokens": 9,
                    "output_tokens": 2,
                    "total_tokens": 11,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens_details": {"reasoning_tokens": 0},
                },
            },
        },
    ]
    body = "".join(f"event: {e['type']}\ndata: {s.dumps(e)}\n\n" for e in events)
    result = usage_parse(
        request=RequestInput(
            url=f"{s.BASE}/openai/v1/responses",
            response_code=200,
            request_body=s.dumps({"model": "gpt-4.1", "input": "hi", "stream": True}),
            response_body=body,
        )
    )
    assert (result.operation, result.is_streaming, result.is_truncated) == ("responses", True, False)
    assert (result.completion_text, result.token_source, result.total_tokens) == (
        "Hello there",
        "reported",
        11,
    )


def long_stream() -> tuple[str, str]:
    pieces = [f" word{i % 50}" for i in range(600)]
    return s.sse(s.chat_stream_chunks(pieces)), "".join(pieces)


def test_a_stream_cut_at_8192_bytes_takes_tokens_from_the_llm_log():
    full, _text = long_stream()
    body = s.cut(full)
    assert len(body.encode()) <= 8192 < len(full.encode())
    llm = LlmLogInput(
        prompt_tokens=41, completion_tokens=1200, total_tokens=1241, model_name="gpt-4o-2024-08-06"
    )
    result = parse(s.chat_request(s.MESSAGES, stream=True), body, llm_log=llm)
    assert result.is_truncated
    assert (result.token_source, result.prompt_tokens, result.completion_tokens, result.total_tokens) == (
        "llm_log",
        41,
        1200,
        1241,
    )
    assert result.completion_text.startswith(" word0 word1")


def test_a_cut_stream_without_llm_log_is_estimated_and_scaled_by_the_native_response_length():
    full, text = long_stream()
    body = s.cut(full)
    native = NativeInput(model_name="gpt-4o", response_length=len(full.encode()))
    scaled = parse(s.chat_request(s.MESSAGES, stream=True), body, native=native)
    unscaled = parse(s.chat_request(s.MESSAGES, stream=True), body)
    true_tokens = len(enc("o200k_base").encode(text))
    assert scaled.is_truncated and scaled.token_source == "estimated"
    assert "scaled by responseLength" in scaled.reason
    assert unscaled.completion_tokens < true_tokens / 3  # only the readable part
    assert abs(scaled.completion_tokens - true_tokens) / true_tokens < 0.1


def test_a_cut_non_streamed_body_keeps_model_and_readable_text():
    long_answer = "Budget line. " * 1200
    full = s.chat_response(long_answer, model="gpt-4.1-2025-04-14")
    # Azure sends "model" after "choices": a cut answer has no model, the native log has it.
    native = NativeInput(model_name="gpt-4.1", response_length=len(full.encode()))
    result = parse(s.chat_request(s.MESSAGES), s.cut(full), native=native)
    true_tokens = len(enc("o200k_base").encode(long_answer))
    assert result.is_truncated and result.token_source == "estimated"
    assert result.model == "gpt-4.1"
    assert result.completion_text.startswith("Budget line. Budget line.")
    assert abs(result.completion_tokens - true_tokens) / true_tokens < 0.1


def test_a_cut_embeddings_answer_is_estimated_from_the_request_input():
    text = "The food was delicious and the waiter was friendly."
    body = s.cut(s.embeddings_response(vectors=1, dims=1536, prompt_tokens=11))
    result = usage_parse(
        request=RequestInput(
            url=f"{s.BASE}/openai/deployments/emb/embeddings?api-version=2024-10-21",
            response_code=200,
            request_body=s.dumps({"input": [text, text]}),
            response_body=body,
        )
    )
    assert result.is_truncated and result.token_source == "estimated"
    assert result.model == ""  # "model" comes after the vectors and was cut off
    assert result.prompt_tokens == 2 * len(enc("cl100k_base").encode(text))
    assert result.completion_tokens == 0


def test_a_cut_request_body_is_estimated_from_its_readable_part_and_scaled_by_request_length():
    messages = [{"role": "user", "content": "Please review this contract clause. " * 600}]
    request = s.chat_request(messages)
    result = parse(
        s.cut(request),
        s.chat_response("ok"[:2], usage={}),
        native=NativeInput(model_name="gpt-4o", request_length=len(request.encode())),
    )
    true_tokens = cookbook_prompt_tokens(messages, enc("o200k_base"))
    assert result.is_truncated and result.token_source == "estimated"
    assert "request cut" in result.reason
    assert abs(result.prompt_tokens - true_tokens) / true_tokens < 0.1


def test_a_cut_image_answer_counts_the_images_asked_for():
    full = s.dumps({"created": 1, "data": [{"b64_json": "A" * 20000}, {"b64_json": "B" * 20000}]})
    result = usage_parse(
        request=RequestInput(
            url=f"{s.BASE}/openai/deployments/dalle3/images/generations",
            response_code=200,
            request_body=s.dumps({"prompt": "x", "n": 2}),
            response_body=s.cut(full),
        )
    )
    assert (result.operation, result.images, result.is_truncated) == ("image", 2, True)


def test_a_request_with_no_bodies_and_no_llm_log_is_unknown_with_a_reason():
    result = parse("", "")
    assert (result.token_source, result.reason) == ("unknown", "no body logged and no LLM log")


def test_a_request_with_no_bodies_takes_the_llm_log():
    result = parse(
        "",
        "",
        llm_log=LlmLogInput(
            prompt_tokens=10, completion_tokens=5, total_tokens=15, model_name="gpt-4o-mini-2024-07-18"
        ),
    )
    assert (result.token_source, result.total_tokens, result.model) == ("llm_log", 15, "gpt-4o-mini")


def test_it_reads_non_utf8_bytes_without_raising():
    body = s.sse(
        s.chat_stream_chunks(
            ["caf\u00e9"], usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        )
    ).encode("latin-1")
    result = parse(b"\xff\xfe{\x80 not json", body)
    assert result.token_source == "reported" and result.total_tokens == 5
    assert result.completion_text == "caf\ufffd"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    request_body=st.one_of(st.binary(max_size=300), st.text(max_size=300), json_values.map(json.dumps)),
    response_body=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300),
        json_values.map(json.dumps),
        st.lists(json_values.map(json.dumps), max_size=5).map(
            lambda xs: "".join(f"data: {x}\n\n" for x in xs)
        ),
    ),
    url=st.one_of(
        st.text(max_size=80),
        st.sampled_from(
            [s.CHAT_URL, f"{s.BASE}/openai/v1/responses", f"{s.BASE}/openai/deployments/x/images/generations"]
        ),
    ),
    code=st.one_of(st.none(), st.integers(min_value=-5, max_value=700)),
)
def test_it_never_raises_on_garbage(request_body, response_body, url, code):
    result = usage_parse(
        request=RequestInput(
            url=url,
            response_code=code,
            request_body=request_body,
            response_body=response_body,
            request_headers=response_body,
            response_headers=request_body,
        )
    )
    assert not result.reason.startswith("parser error"), result.reason
    assert result.token_source in {"reported", "llm_log", "estimated", "none", "unknown"}
    assert min(result.prompt_tokens, result.completion_tokens, result.total_tokens, result.cached_tokens) >= 0
    json.dumps(result.content_filter)  # storable in a JSONField


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut_at=st.integers(min_value=1, max_value=4000))
def test_a_stream_cut_anywhere_is_truncated_and_never_raises(cut_at):
    body = s.sse(
        s.chat_stream_chunks(
            PIECES * 3, usage={"prompt_tokens": 5, "completion_tokens": 36, "total_tokens": 41}
        )
    )
    result = parse(s.chat_request(s.MESSAGES, stream=True), s.cut(body, cut_at))
    if cut_at < len(body.encode()):
        assert result.is_truncated
        assert result.token_source in {"estimated", "unknown"}
    assert not result.reason.startswith("parser error")
