"""The bodies Azure OpenAI answers with in the demo rows: chat completions (whole or streamed as
server-sent events), embeddings, Responses API answers, and the errors (429, 500, content filter).
"""

from __future__ import annotations

import random

from .catalog import _FILTER_OK, Deployment, _dumps, random_uuid


def response_body(
    rng: random.Random,
    operation: str,
    outcome: str,
    deployment: Deployment,
    answer: str,
    created: int,
    prompt_tokens: int,
    completion_tokens: int,
    cached: int,
    reasoning: int,
    stream: bool,
    include_usage: bool,
) -> str:
    model_id = (
        f"{deployment.model}-{deployment.version}"
        if deployment.kind != "embeddings"
        else deployment.model
    )
    if outcome == "apim_429":
        return _dumps({"statusCode": 429, "message": "Token limit is exceeded. Try again in 6 seconds."})
    if outcome == "backend_429":
        return _dumps(
            {
                "error": {
                    "code": "429",
                    "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
                    "have exceeded token rate limit of your current pricing tier. Please retry after "
                    "6 seconds.",
                }
            }
        )
    if outcome == "error_500":
        return _dumps(
            {
                "error": {
                    "code": "InternalServerError",
                    "message": "The server had an error processing your request.",
                }
            }
        )
    if outcome == "content_filter":
        filtered = dict(_FILTER_OK)
        filtered["violence"] = {"filtered": True, "severity": "medium"}
        inner = {"code": "ResponsibleAIPolicyViolation", "content_filter_result": filtered}
        if rng.random() < 0.5:  # newer API versions
            inner = {"code": "ResponsibleAIPolicyViolation", "content_filter_results": filtered}
            key = "inner_error"
        else:
            key = "innererror"
        return _dumps(
            {
                "error": {
                    "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
                    "content management policy.",
                    "type": None,
                    "param": "prompt",
                    "code": "content_filter",
                    "status": 400,
                    key: inner,
                }
            }
        )
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }
    if operation == "embeddings":
        vector = [round(rng.uniform(-0.08, 0.08), 8) for _ in range(1536)]
        return _dumps(
            {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": vector}],
                "model": deployment.model,
                "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
            }
        )
    if operation == "responses":
        return _dumps(
            {
                "id": "resp_" + random_uuid(rng).replace("-", ""),
                "object": "response",
                "created_at": created,
                "status": "completed",
                "model": model_id,
                "output": [
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": answer}],
                    }
                ],
                "usage": {
                    "input_tokens": prompt_tokens,
                    "input_tokens_details": {"cached_tokens": cached},
                    "output_tokens": completion_tokens,
                    "output_tokens_details": {"reasoning_tokens": reasoning},
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )
    chat_id = "chatcmpl-" + random_uuid(rng).replace("-", "")[:29]
    prompt_filter = [{"prompt_index": 0, "content_filter_results": _FILTER_OK}]
    if not stream:
        return _dumps(
            {
                "choices": [
                    {
                        "content_filter_results": _FILTER_OK,
                        "finish_reason": "stop",
                        "index": 0,
                        "logprobs": None,
                        "message": {"content": answer, "role": "assistant"},
                    }
                ],
                "created": created,
                "id": chat_id,
                "model": model_id,
                "object": "chat.completion",
                "prompt_filter_results": prompt_filter,
                "system_fingerprint": "fp_ee1d74bde0",
                "usage": usage,
            }
        )
    frames = [
        {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": prompt_filter,
        }
    ]

    def chunk(delta: dict, finish: str | None) -> dict:
        return {
            "choices": [
                {
                    "content_filter_results": {}
                    if finish is None and not delta.get("content")
                    else _FILTER_OK,
                    "delta": delta,
                    "finish_reason": finish,
                    "index": 0,
                    "logprobs": None,
                }
            ],
            "created": created,
            "id": chat_id,
            "model": model_id,
            "object": "chat.completion.chunk",
            "system_fingerprint": "fp_ee1d74bde0",
        }

    frames.append(chunk({"content": "", "role": "assistant"}, None))
    for index, word in enumerate(answer.split(" ")):
        frames.append(chunk({"content": word if index == 0 else " " + word}, None))
    frames.append(chunk({}, "stop"))
    if include_usage:
        last = chunk({}, None)
        last["choices"] = []
        last["usage"] = usage
        frames.append(last)
    return "".join(f"data: {_dumps(frame)}\n\n" for frame in frames) + "data: [DONE]\n\n"
