"""The pure parser of one request: every operation, both URL styles, errors, content filters."""

import json

import pytest

from tests.support import accounting_samples as s
from usage.accounting.parse.inputs import NativeInput, RequestInput
from usage.accounting.parse.parser import usage_parse

pytestmark = pytest.mark.django_db  # the tokenizer reads settings.TIKTOKEN_CACHE_DIR

V1 = f"{s.BASE}/openai/v1"
DEP = f"{s.BASE}/openai/deployments"


def parse(url: str, request_body: object = "", response_body: object = "", code: int = 200, **kw):
    if not isinstance(request_body, str | bytes):
        request_body = s.dumps(request_body)
    if not isinstance(response_body, str | bytes):
        response_body = s.dumps(response_body)
    native = kw.pop("native", None)
    llm_log = kw.pop("llm_log", None)
    return usage_parse(
        request=RequestInput(
            url=url, response_code=code, request_body=request_body, response_body=response_body, **kw
        ),
        native=native,
        llm_log=llm_log,
    )


# (case id, url, request body, response body) -> expected fields
OPERATIONS = [
    (
        "chat completion with cached and reasoning tokens",
        s.CHAT_URL,
        s.chat_request(s.MESSAGES),
        s.chat_response(
            model="o3-mini-2025-01-31",
            usage={
                "completion_tokens": 420,
                "completion_tokens_details": {"reasoning_tokens": 384},
                "prompt_tokens": 1200,
                "prompt_tokens_details": {"cached_tokens": 1024},
                "total_tokens": 1620,
            },
        ),
        {
            "operation": "chat",
            "deployment": "gpt4o-prod",
            "api_version": "2024-10-21",
            "model": "o3-mini",
            "model_version": "2025-01-31",
            "prompt_tokens": 1200,
            "cached_tokens": 1024,
            "completion_tokens": 420,
            "reasoning_tokens": 384,
            "total_tokens": 1620,
            "finish_reason": "stop",
            "token_source": "reported",
            "is_streaming": False,
        },
    ),
    (
        "legacy completion",
        f"{DEP}/davinci/completions?api-version=2024-02-01",
        {"prompt": "Say this is a test", "max_tokens": 7},
        {
            "choices": [
                {"finish_reason": "length", "index": 0, "logprobs": None, "text": "\n\nThis is a test"}
            ],
            "created": 1732530000,
            "id": "cmpl-7QmVI",
            "model": "gpt-35-turbo-instruct",
            "object": "text_completion",
            "usage": {"completion_tokens": 7, "prompt_tokens": 5, "total_tokens": 12},
        },
        {
            "operation": "completion",
            "model": "gpt-35-turbo-instruct",
            "prompt_tokens": 5,
            "completion_tokens": 7,
            "finish_reason": "length",
            "token_source": "reported",
        },
    ),
    (
        "embeddings",
        f"{DEP}/embed-small/embeddings?api-version=2024-10-21",
        {"input": "The food was delicious and the waiter was friendly."},
        s.embeddings_response(vectors=1, dims=8, prompt_tokens=11),
        {
            "operation": "embeddings",
            "deployment": "embed-small",
            "model": "text-embedding-3-small",
            "prompt_tokens": 11,
            "completion_tokens": 0,
            "total_tokens": 11,
            "token_source": "reported",
        },
    ),
    (
        "dall-e-3 image generation",
        f"{DEP}/dalle3/images/generations?api-version=2024-10-21",
        {"prompt": "A lighthouse at dawn", "n": 1, "size": "1792x1024", "quality": "hd", "style": "vivid"},
        {
            "created": 1732530000,
            "data": [
                {
                    "content_filter_results": {
                        "hate": {"filtered": False, "severity": "safe"},
                        "self_harm": {"filtered": False, "severity": "safe"},
                    },
                    "prompt_filter_results": {
                        "hate": {"filtered": False, "severity": "safe"},
                        "jailbreak": {"filtered": False, "detected": False},
                    },
                    "revised_prompt": "A tall lighthouse on a rocky coast at dawn.",
                    "url": "https://dalleprodsec.blob.core.windows.net/private/images/abc.png?se=2026",
                }
            ],
        },
        {
            "operation": "image",
            "images": 1,
            "image_size": "1792x1024",
            "image_quality": "hd",
            "token_source": "none",
            "total_tokens": 0,
        },
    ),
    (
        "gpt-image-1 generation reports tokens",
        f"{DEP}/gpt-image-1/images/generations?api-version=2025-04-01-preview",
        {"prompt": "A watercolor fox", "n": 2, "size": "1024x1024", "quality": "medium"},
        {
            "created": 1732530000,
            "data": [{"b64_json": "iVBORw0KGgo="}, {"b64_json": "iVBORw0KGgo="}],
            "usage": {
                "input_tokens": 50,
                "input_tokens_details": {"image_tokens": 40, "text_tokens": 10},
                "output_tokens": 2112,
                "total_tokens": 2162,
            },
        },
        {
            "operation": "image",
            "images": 2,
            "prompt_tokens": 50,
            "completion_tokens": 2112,
            "token_source": "reported",
        },
    ),
    (
        "whisper transcription with duration",
        f"{DEP}/whisper/audio/transcriptions?api-version=2024-06-01",
        '--abc\r\nContent-Disposition: form-data; name="response_format"\r\n\r\nverbose_json\r\n--abc\r\n'
        'Content-Disposition: form-data; name="file"; filename="a.mp3"\r\nContent-Type: audio/mpeg\r\n\r\n\x00\x01',
        {
            "task": "transcribe",
            "language": "english",
            "duration": 93.5,
            "text": "Hello team, the budget...",
            "segments": [],
        },
        {"operation": "audio_transcription", "audio_seconds": 93.5, "token_source": "none"},
    ),
    (
        "audio translation",
        f"{DEP}/whisper/audio/translations?api-version=2024-06-01",
        "",
        {"text": "Good morning, everyone."},
        {"operation": "audio_translation", "audio_seconds": 0.0, "token_source": "none"},
    ),
    (
        "gpt-4o-transcribe reports tokens",
        f"{DEP}/gpt-4o-transcribe/audio/transcriptions?api-version=2025-03-01-preview",
        "",
        {
            "text": "Hi.",
            "usage": {
                "type": "tokens",
                "input_tokens": 14,
                "input_token_details": {"audio_tokens": 14},
                "output_tokens": 3,
                "total_tokens": 17,
            },
        },
        {
            "operation": "audio_transcription",
            "prompt_tokens": 14,
            "completion_tokens": 3,
            "token_source": "reported",
        },
    ),
    (
        "responses api",
        f"{s.BASE}/openai/responses?api-version=2025-04-01-preview",
        {"model": "gpt-4.1", "input": "Write a haiku about invoices."},
        {
            "id": "resp_67ccd2bed1ec8190",
            "object": "response",
            "created_at": 1741476542,
            "status": "completed",
            "model": "gpt-4.1-2025-04-14",
            "output": [
                {
                    "type": "message",
                    "id": "msg_1",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Columns of numbers", "annotations": []}],
                }
            ],
            "usage": {
                "input_tokens": 36,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 87,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 123,
            },
        },
        {
            "operation": "responses",
            "model": "gpt-4.1",
            "model_version": "2025-04-14",
            "prompt_tokens": 36,
            "completion_tokens": 87,
            "total_tokens": 123,
            "finish_reason": "completed",
            "token_source": "reported",
            "completion_text": "Columns of numbers",
        },
    ),
    (
        "v1 chat url takes the deployment from the body",
        f"{V1}/chat/completions",
        {"model": "gpt-4o-mini-team-a", "messages": s.MESSAGES},
        s.chat_response(model="gpt-4o-mini-2024-07-18"),
        {
            "operation": "chat",
            "deployment": "gpt-4o-mini-team-a",
            "model": "gpt-4o-mini",
            "api_version": "",
            "prompt_tokens": 39,
            "token_source": "reported",
        },
    ),
    (
        "v1 responses url",
        f"{V1}/responses",
        {"model": "o4-mini", "input": [{"role": "user", "content": "hi"}]},
        {
            "object": "response",
            "status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"},
            "model": "o4-mini-2025-04-16",
            "output": [],
            "usage": {
                "input_tokens": 8,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 64,
                "output_tokens_details": {"reasoning_tokens": 64},
                "total_tokens": 72,
            },
        },
        {
            "operation": "responses",
            "deployment": "o4-mini",
            "reasoning_tokens": 64,
            "finish_reason": "max_output_tokens",
        },
    ),
    (
        "assistants run with usage",
        f"{s.BASE}/openai/threads/thread_abc/runs/run_abc?api-version=2024-05-01-preview",
        "",
        {
            "id": "run_abc",
            "object": "thread.run",
            "status": "completed",
            "model": "gpt-4o",
            "usage": {"prompt_tokens": 300, "completion_tokens": 40, "total_tokens": 340},
        },
        {"operation": "assistants", "model": "gpt-4o", "prompt_tokens": 300, "token_source": "reported"},
    ),
    (
        "assistants create",
        f"{s.BASE}/openai/assistants?api-version=2024-05-01-preview",
        {"model": "gpt-4o", "instructions": "You are a tutor."},
        {"id": "asst_abc", "object": "assistant", "model": "gpt-4o", "instructions": "You are a tutor."},
        {"operation": "assistants", "total_tokens": 0},
    ),
    (
        "an unknown path is other",
        f"{s.BASE}/openai/models?api-version=2024-10-21",
        "",
        {"data": [], "object": "list"},
        {"operation": "other"},
    ),
]


@pytest.mark.parametrize(
    ("url", "request_body", "response_body", "expected"),
    [c[1:] for c in OPERATIONS],
    ids=[c[0] for c in OPERATIONS],
)
def test_it_parses_each_operation(url, request_body, response_body, expected):
    result = parse(url, request_body, response_body)
    actual = {key: getattr(result, key) for key in expected}
    assert actual == expected
    assert not result.reason.startswith("parser error")


def test_it_reads_the_chat_content_filter_results_and_text():
    result = parse(s.CHAT_URL, s.chat_request(s.MESSAGES), s.chat_response("All good."))
    assert result.completion_text == "All good."
    assert result.content_filter["blocked"] is False
    assert result.content_filter["prompt"][0]["jailbreak"] == {"filtered": False, "detected": False}
    assert result.content_filter["completion"]["0"]["violence"]["severity"] == "safe"


def test_it_takes_model_and_version_from_the_native_log_first():
    native = NativeInput(model_name="gpt-4o", model_version="2024-11-20", model_deployment="gpt4o-prod")
    result = parse(
        s.CHAT_URL, s.chat_request(s.MESSAGES), s.chat_response(model="gpt-4o-2024-08-06"), native=native
    )
    assert (result.model, result.model_version) == ("gpt-4o", "2024-11-20")


def test_it_reads_tool_calls_of_a_complete_answer():
    calls = [
        {
            "function": {"arguments": '{"city":"Oslo"}', "name": "get_weather"},
            "id": "call_1",
            "type": "function",
        }
    ]
    result = parse(
        s.CHAT_URL, s.chat_request(s.MESSAGES), s.chat_response(tool_calls=calls, finish_reason="tool_calls")
    )
    assert result.tool_calls == [{"id": "call_1", "name": "get_weather", "arguments": '{"city":"Oslo"}'}]
    assert result.finish_reason == "tool_calls"


ERRORS = [
    (
        "throttled by the backend",
        429,
        {
            "error": {
                "code": "429",
                "message": "Requests to the ChatCompletions_Create Operation have exceeded call rate limit.",
            }
        },  # noqa: E501
        "error 429",
    ),
    (
        "unauthorized",
        401,
        {"statusCode": 401, "message": "Access denied due to invalid subscription key."},
        "error 401",
    ),
    (
        "deployment not found",
        404,
        {
            "error": {
                "code": "DeploymentNotFound",
                "message": "The API deployment for this resource does not exist.",
            }
        },
        "error 404 DeploymentNotFound",
    ),
    (
        "server error",
        500,
        {"error": {"code": "InternalServerError", "message": "The server had an error."}},
        "error 500 InternalServerError",
    ),
    ("gateway timeout with an html body", 504, "<html><body>504 Gateway Time-out</body></html>", "error 504"),
]


@pytest.mark.parametrize(("code", "body", "reason"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_it_gives_error_responses_no_tokens(code, body, reason):
    result = parse(
        s.CHAT_URL, s.chat_request(s.MESSAGES), body if isinstance(body, str) else s.dumps(body), code=code
    )
    assert result.is_error
    assert (result.token_source, result.total_tokens, result.reason) == ("none", 0, reason)
    assert result.operation == "chat"


FILTER_ERRORS = [
    (
        "innererror content_filter_result",
        {"inner_key": "innererror", "results_key": "content_filter_result"},
        [],
        False,
    ),
    (
        "inner_error content_filter_results",
        {"inner_key": "inner_error", "results_key": "content_filter_results"},
        [],
        False,
    ),
    (
        "custom blocklists as an object",
        {
            "blocklists": {
                "filtered": True,
                "details": [{"filtered": True, "id": "competitors"}, {"filtered": False, "id": "pii"}],
            }
        },  # noqa: E501
        ["competitors"],
        False,
    ),
    (
        "custom blocklists as a list",
        {"blocklists": [{"filtered": True, "id": "profanity"}]},
        ["profanity"],
        False,
    ),
    ("jailbreak detected", {"jailbreak": True}, [], True),
]


@pytest.mark.parametrize(
    ("kwargs", "blocklists", "jailbreak"), [f[1:] for f in FILTER_ERRORS], ids=[f[0] for f in FILTER_ERRORS]
)
def test_it_reads_the_content_filter_error(kwargs, blocklists, jailbreak):
    result = parse(s.CHAT_URL, s.chat_request(s.MESSAGES), s.content_filter_error(**kwargs), code=400)
    assert result.reason == "error 400 content_filter"
    assert result.total_tokens == 0
    summary = result.content_filter
    assert summary["blocked"] is True
    assert "violence" in summary["filtered_categories"]
    assert summary["blocklists"] == blocklists
    assert summary["jailbreak_detected"] is jailbreak
    assert summary["error"]["violence"] == {"filtered": True, "severity": "medium"}


def test_it_reads_prompt_annotations_of_older_streams():
    chunks = s.chat_stream_chunks(
        ["Hi"], usage={"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    )
    chunks[0] = {
        "choices": [],
        "prompt_annotations": [
            {"prompt_index": 0, "content_filter_results": {"hate": {"filtered": True, "severity": "high"}}}
        ],
    }
    result = parse(s.CHAT_URL, s.chat_request(s.MESSAGES, stream=True), s.sse(chunks))
    assert result.content_filter["filtered_categories"] == ["hate"]


def test_it_accepts_headers_as_a_list_or_json_text():
    body = s.sse(
        s.chat_stream_chunks(["a"], usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})
    )
    for headers in (
        [{"name": "Content-Type", "value": "text/event-stream"}],
        json.dumps({"content-type": "x"}),
    ):
        result = parse(s.CHAT_URL, s.chat_request(s.MESSAGES), body, response_headers=headers)
        assert result.is_streaming and result.total_tokens == 2
