"""Usage-parsing throughput: requests/s of ``usage_parse`` over mixed records on one core.

    .venv/bin/python bench/usage_parse.py [--records 50000] [--runs 5] [--distinct 2000]

The records are real-shaped APIM request/response pairs (``tests/support/accounting_samples.py``):

* one third streamed chat **without** usage, so every one is counted with tiktoken (request
  messages with the per-message overhead, completion text reassembled from the deltas); most are
  cut at 8,192 bytes, a third of those scaled by the native ``responseLength``;
* one third non-streamed chat with ``usage`` (some with tool calls);
* one third of the rest: streams with ``usage``, embeddings (cut vectors, estimated from the
  input), Responses API, 429 / 400 content_filter errors, cut answers with LLM-log tokens.

Every body is cut at 8,192 bytes, as APIM logs it. ``--distinct`` different records are built (random words, so the tokenizer sees varied text)
and cycled to ``--records``. The process is pinned to one CPU when the OS allows it. Prints each
run and the median; parsing only, no database.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = (
    "budget invoice travel quarter revenue forecast contract supplier margin cost center approve review "
    "summary customer meeting report growth risk audit policy deadline team project delivery schedule "
    "Überweisung factura 請求書 données 🙂"
).split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def build_records(distinct: int, seed: int = 7) -> list[tuple]:
    from tests.support import accounting_samples as s
    from usage.accounting.parse.inputs import LlmLogInput, NativeInput, RequestInput

    rng = random.Random(seed)
    records: list[tuple] = []
    for i in range(distinct):
        kind = i % 9
        messages = [
            {"role": "system", "content": _text(rng, rng.randint(5, 40))},
            {"role": "user", "content": _text(rng, rng.randint(10, 300))},
        ]
        answer_words = [" " + rng.choice(WORDS) for _ in range(rng.randint(20, 600))]
        native = NativeInput(model_name=rng.choice(["gpt-4o", "gpt-4o-mini", "gpt-35-turbo"]))
        llm = None
        if kind < 3:  # streamed, no usage: tokenizer estimate
            body = s.sse(s.chat_stream_chunks(answer_words))
            if kind == 0:
                native = NativeInput(model_name=native.model_name, response_length=len(body.encode()))
                body = s.cut(body)
            request = RequestInput(
                url=s.CHAT_URL,
                response_code=200,
                request_body=s.chat_request(messages, stream=True),
                response_body=body,
            )
        elif kind < 6:  # non-streamed with usage
            calls = None
            if kind == 5:
                calls = [
                    {
                        "function": {"arguments": json.dumps({"q": rng.choice(WORDS)}), "name": "search"},
                        "id": "call_1",
                        "type": "function",
                    }
                ]
            request = RequestInput(
                url=s.CHAT_URL,
                response_code=200,
                request_body=s.chat_request(messages),
                response_body=s.chat_response(
                    "".join(answer_words),
                    tool_calls=calls,
                    usage={
                        "prompt_tokens": 300,
                        "completion_tokens": 120,
                        "total_tokens": 420,
                        "prompt_tokens_details": {"cached_tokens": 128},
                    },
                ),
            )
        elif kind == 6:  # streamed with usage, or cut with the LLM log
            body = s.sse(
                s.chat_stream_chunks(
                    answer_words, usage={"prompt_tokens": 50, "completion_tokens": 600, "total_tokens": 650}
                )
            )
            if rng.random() < 0.5:
                body = s.cut(body)
                llm = LlmLogInput(
                    prompt_tokens=50, completion_tokens=600, total_tokens=650, model_name="gpt-4o"
                )
            request = RequestInput(
                url=s.CHAT_URL,
                response_code=200,
                request_body=s.chat_request(messages, stream=True),
                response_body=body,
            )
        elif kind == 7:  # embeddings, answer cut in the vectors
            request = RequestInput(
                url=f"{s.BASE}/openai/deployments/embed/embeddings?api-version=2024-10-21",
                response_code=200,
                request_body=s.dumps({"input": [_text(rng, 30) for _ in range(rng.randint(1, 8))]}),
                response_body=s.cut(s.embeddings_response(vectors=2)),
            )
            native = NativeInput(model_name="text-embedding-3-small")
        else:  # errors and the Responses API
            if rng.random() < 0.5:
                request = RequestInput(
                    url=s.CHAT_URL,
                    response_code=rng.choice([400, 429]),
                    request_body=s.chat_request(messages),
                    response_body=s.content_filter_error(),
                )
            else:
                request = RequestInput(
                    url=f"{s.BASE}/openai/v1/responses",
                    response_code=200,
                    request_body=s.dumps({"model": "gpt-4.1", "input": _text(rng, 50)}),
                    response_body=s.dumps(
                        {
                            "object": "response",
                            "status": "completed",
                            "model": "gpt-4.1",
                            "output": [
                                {
                                    "type": "message",
                                    "content": [{"type": "output_text", "text": "".join(answer_words)}],
                                }
                            ],
                            "usage": {"input_tokens": 60, "output_tokens": 200, "total_tokens": 260},
                        }
                    ),
                )
        # APIM logs at most 8,192 bytes of each body.
        request = replace(
            request, request_body=s.cut(request.request_body), response_body=s.cut(request.response_body)
        )
        records.append((request, native, llm))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--distinct", type=int, default=2_000)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aoai_portal.settings")
    import django

    django.setup()
    from usage.accounting.parse.parser import usage_parse
    from usage.accounting.tokens import encoding_get

    pinned = "not pinned"
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        pinned = f"pinned to CPU {cpu}"
    encoding_get("o200k_base")
    encoding_get("cl100k_base")
    distinct = build_records(args.distinct)
    records = [distinct[i % len(distinct)] for i in range(args.records)]
    streaming_no_usage = sum(1 for i in range(args.records) if (i % len(distinct)) % 9 < 3)
    print(f"{args.records} records ({streaming_no_usage} streamed without usage), {args.runs} runs, {pinned}")

    rates = []
    sources: dict[str, int] = {}
    for run in range(args.runs):
        started = time.perf_counter()
        for request, native, llm in records:
            result = usage_parse(request=request, native=native, llm_log=llm)
            if run == 0:
                sources[result.token_source] = sources.get(result.token_source, 0) + 1
        elapsed = time.perf_counter() - started
        rates.append(args.records / elapsed)
        print(f"run {run + 1}: {elapsed:.2f} s, {rates[-1]:,.0f} requests/s")
    print(f"token sources: {dict(sorted(sources.items()))}")
    print(f"median: {statistics.median(rates):,.0f} requests/s on one core")


if __name__ == "__main__":
    main()
