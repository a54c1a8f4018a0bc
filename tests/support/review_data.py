"""Chat bodies and LLM-log chunks for the prompt-review tests, shaped like Azure OpenAI chat calls."""

import json
from datetime import UTC, datetime

from usage.models import LlmLogChunk

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def chat_bodies(messages: list[dict], completion: str, *, stream: bool = False) -> tuple[str, str]:
    request = json.dumps({"messages": messages, "stream": stream})
    if stream:
        frames = [{"choices": []}] + [
            {"choices": [{"index": 0, "delta": {"content": piece}}]}
            for piece in [w + " " for w in completion.split(" ")[:-1]] + completion.split(" ")[-1:]
        ]
        response = "".join(f"data: {json.dumps(f)}\n\n" for f in frames) + "data: [DONE]\n\n"
    else:
        response = json.dumps(
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": completion}}], "usage": {}}
        )
    return request, response


def make_llm_chunks(correlation_id: str, *, messages: list[dict], completion: str, size: int = 40) -> None:
    """The LLM log of a request, its message columns cut into ``size``-character chunks."""
    request_text = json.dumps(messages)
    response_text = json.dumps([{"role": "assistant", "content": completion}])
    LlmLogChunk.objects.create(
        correlation_id=correlation_id, request_id="r1", sequence_number=0, time=T0, prompt_tokens=5
    )
    sequence = 1
    for column, text in (("request_messages", request_text), ("response_messages", response_text)):
        for start in range(0, len(text), size):
            LlmLogChunk.objects.create(
                correlation_id=correlation_id,
                request_id="r1",
                sequence_number=sequence,
                time=T0,
                **{column: text[start : start + size]},
            )
            sequence += 1
