"""Real-shaped Azure OpenAI bodies (as APIM logs them) for the accounting tests and the bench.

Shapes follow the Azure OpenAI REST reference (2024-10-21 / 2025-04-01-preview): keys in the
order Azure sends them, ``prompt_filter_results`` / ``content_filter_results`` included.
"""

import json

BASE = "https://apim-contoso.azure-api.net"
CHAT_URL = f"{BASE}/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"

_SAFE = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
PROMPT_FILTERS = [
    {
        "prompt_index": 0,
        "content_filter_results": {**_SAFE, "jailbreak": {"filtered": False, "detected": False}},
    }
]


def dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def chat_request(messages: list[dict], **extra: object) -> str:
    return dumps({"messages": messages, **extra})


MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant for Contoso finance."},
    {"role": "user", "content": "Summarise the Q3 travel expenses in two sentences.", "name": "fiona"},
]


def chat_response(
    content: str = "Travel spend rose 12% in Q3, driven by customer visits.",
    *,
    model: str = "gpt-4o-2024-08-06",
    usage: dict | None = None,
    finish_reason: str = "stop",
    tool_calls: list[dict] | None = None,
) -> str:
    message: dict = {"content": content, "refusal": None, "role": "assistant"}
    if tool_calls is not None:
        message = {"content": None, "refusal": None, "role": "assistant", "tool_calls": tool_calls}
    return dumps(
        {
            "choices": [
                {
                    "content_filter_results": {} if tool_calls else _SAFE,
                    "finish_reason": finish_reason,
                    "index": 0,
                    "logprobs": None,
                    "message": message,
                }
            ],
            "created": 1732530000,
            "id": "chatcmpl-AXk9Qp2bLrT4",
            "model": model,
            "object": "chat.completion",
            "prompt_filter_results": PROMPT_FILTERS,
            "system_fingerprint": "fp_04751d0b65",
            "usage": usage
            if usage is not None
            else {
                "completion_tokens": 14,
                "completion_tokens_details": {"reasoning_tokens": 0},
                "prompt_tokens": 39,
                "prompt_tokens_details": {"cached_tokens": 0},
                "total_tokens": 53,
            },
        }
    )


def sse(chunks: list[dict], *, done: bool = True) -> str:
    lines = [f"data: {dumps(c)}\n\n" for c in chunks]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines)


def chat_stream_chunks(
    pieces: list[str],
    *,
    model: str = "gpt-4o-2024-08-06",
    usage: dict | None = None,
    tool_call: tuple[str, list[str]] | None = None,
    annotation_after: bool = False,
) -> list[dict]:
    """Chunks as Azure streams them: a prompt-filter frame, a role frame, one delta per piece."""
    base = {
        "created": 1732530000,
        "id": "chatcmpl-AXkStream",
        "model": model,
        "object": "chat.completion.chunk",
    }
    chunks: list[dict] = [
        {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": PROMPT_FILTERS,
        }
    ]
    chunks.append(
        {
            **base,
            "choices": [
                {
                    "content_filter_results": {},
                    "delta": {"content": "", "refusal": None, "role": "assistant"},
                    "finish_reason": None,
                    "index": 0,
                }
            ],
        }  # noqa: E501
    )
    for piece in pieces:
        chunks.append(
            {
                **base,
                "choices": [
                    {
                        "content_filter_results": _SAFE,
                        "delta": {"content": piece},
                        "finish_reason": None,
                        "index": 0,
                    }
                ],
            }  # noqa: E501
        )
    finish = "stop"
    if tool_call:
        name, argument_pieces = tool_call
        finish = "tool_calls"
        chunks.append(
            {
                **base,
                "choices": [
                    {
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": "call_8fRk2",
                                    "type": "function",
                                    "function": {"name": name, "arguments": ""},
                                }
                            ]
                        },
                        "finish_reason": None,
                        "index": 0,
                    }
                ],
            }
        )
        for piece in argument_pieces:
            chunks.append(
                {
                    **base,
                    "choices": [
                        {
                            "delta": {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]},
                            "finish_reason": None,
                            "index": 0,
                        }
                    ],
                }
            )
    chunks.append(
        {
            **base,
            "choices": [{"content_filter_results": {}, "delta": {}, "finish_reason": finish, "index": 0}],
        }
    )
    if usage is not None:
        chunks.append({**base, "choices": [], "usage": usage})
    if annotation_after:
        chunks.append(
            {
                "choices": [
                    {
                        "content_filter_offsets": {"check_offset": 0, "start_offset": 0, "end_offset": 60},
                        "content_filter_results": _SAFE,
                        "finish_reason": None,
                        "index": 0,
                    }
                ],  # noqa: E501
                "created": 0,
                "id": "",
                "model": "",
                "object": "",
                "usage": None,
            }
        )
    return chunks


def content_filter_error(
    *,
    inner_key: str = "innererror",
    results_key: str = "content_filter_result",
    blocklists: object = None,
    jailbreak: bool = False,
) -> str:
    results = {
        **_SAFE,
        "violence": {"filtered": True, "severity": "medium"},
        "jailbreak": {"filtered": jailbreak, "detected": jailbreak},
    }
    if blocklists is not None:
        results["custom_blocklists"] = blocklists
    return dumps(
        {
            "error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",  # noqa: E501
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                inner_key: {"code": "ResponsibleAIPolicyViolation", results_key: results},
            }
        }
    )


def embeddings_response(vectors: int = 1, dims: int = 1536, prompt_tokens: int = 8) -> str:
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": [round(0.0123456789 * ((j % 17) - 8), 9) for j in range(dims)],
        }
        for i in range(vectors)
    ]
    return dumps(
        {
            "object": "list",
            "data": data,
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )


def cut(text: str, limit: int = 8192) -> str:
    """What APIM keeps of a body: its first ``limit`` bytes."""
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
