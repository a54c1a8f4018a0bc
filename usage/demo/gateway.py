"""The demo rows of one UTC hour (``_Hour``): its gateway rows, each with the native and LLM-log
rows that partner it, the native rows of calls that bypassed APIM, and the deliberately bad rows.

Bodies are logged as APIM logs them, cut at ``BODY_LIMIT`` bytes; ``caller_headers`` names the
caller in the logged request headers. What the rows hold: ``usage.demo.data``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE

from .bodies import response_body
from .catalog import (
    _API_VERSIONS,
    _CALLERS,
    _DEPLOYMENTS,
    _INJECTION,
    _PII,
    _TOPICS,
    _WORDS,
    APIM_MANAGED_IDENTITY,
    APIM_NAME,
    APIM_RESOURCE_ID,
    BACKENDS,
    DEPLOYMENTS,
    SUBSCRIPTION_CALLERS,
    SUBSCRIPTIONS,
    TENANT_ID,
    _dumps,
    _la_time,
    random_uuid,
)
from .partners import llm_rows, native_row

BODY_LIMIT = 8192  # APIM logs at most this many bytes of each body


def _cut(text: str, limit: int = BODY_LIMIT) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode(errors="ignore")


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class _Hour:
    """Generates the rows of one UTC hour from its own random stream."""

    def __init__(self, hour: datetime, seed: int, requests: int) -> None:
        self.hour = hour
        self.rng = random.Random(f"aoai-demo:{seed}:{hour.isoformat()}")
        self.requests = requests

    def uuid(self) -> str:
        return random_uuid(self.rng)

    def text(self, words: int) -> str:
        rng = self.rng
        start = rng.randrange(len(_WORDS))
        picked = [_WORDS[(start + i) % len(_WORDS)] for i in range(words)]
        return " ".join(picked).capitalize() + "."

    def rows(self, malformed: bool) -> Iterator[tuple[str, dict]]:
        rng = self.rng
        offsets = sorted(rng.random() * 3600 for _ in range(self.requests))
        late_llm: list[tuple[str, dict]] = []
        for offset in offsets:
            yield from self.request(self.hour + timedelta(seconds=offset), late_llm)
        yield from late_llm
        # Calls that went straight to Azure OpenAI, bypassing APIM: native rows with no partner.
        for _ in range(max(0, self.requests // 100)):
            moment = self.hour + timedelta(seconds=rng.random() * 3600)
            deployment = rng.choice(DEPLOYMENTS)
            yield (
                NATIVE,
                native_row(
                    moment,
                    self.uuid(),
                    deployment,
                    rng.choice(deployment.regions),
                    "Embeddings_Create" if deployment.kind == "embeddings" else "ChatCompletions_Create",
                    200,
                    float(rng.randint(80, 3000)),
                    False,
                    rng.randint(200, 4000),
                    rng.randint(300, 6000),
                    object_id="9a6e1f3b-2c4d-4e5f-8a9b-0c1d2e3f4a5b",
                ),
            )
        if malformed and self.requests:
            yield from self.malformed_rows()

    # --- one request -------------------------------------------------------------------------

    def request(self, moment: datetime, late_llm: list[tuple[str, dict]]) -> Iterator[tuple[str, dict]]:
        rng = self.rng
        subscription = rng.choices(SUBSCRIPTIONS, weights=[s.weight for s in SUBSCRIPTIONS])[0]
        candidates = [_DEPLOYMENTS[name] for name in subscription.deployments]
        deployment = rng.choices(candidates, weights=[d.weight for d in candidates])[0]
        region = rng.choice(deployment.regions)
        backend = BACKENDS[region]
        correlation_id = self.uuid()
        apim_request_id = self.uuid()
        api_version = rng.choice(_API_VERSIONS)

        if deployment.kind == "embeddings":
            operation, operation_id = "embeddings", "embeddings_create"
        elif deployment.kind == "reasoning" or (deployment.name == "gpt-4.1" and rng.random() < 0.3):
            operation, operation_id = (
                ("responses", "responses_create") if rng.random() < 0.5 else ("chat", "")
            )
        else:
            operation, operation_id = "chat", ""
        v1 = operation == "responses" or (operation == "chat" and rng.random() < 0.15)
        if operation == "chat":
            operation_id = "ChatCompletions_Create"
        host = f"https://{APIM_NAME}.azure-api.net"
        if operation == "responses":
            path = "/openai/v1/responses"
        elif v1:
            path = "/openai/v1/chat/completions"
        else:
            tail = "embeddings" if operation == "embeddings" else "chat/completions"
            path = f"/openai/deployments/{deployment.name}/{tail}?api-version={api_version}"
        url = host + path
        backend_url = f"https://{backend.host}{path}"

        # The prompt.
        extra = ""
        roll = rng.random()
        if roll < 0.03:
            extra = rng.choice(_PII)
        elif roll < 0.05:
            extra = rng.choice(_INJECTION)
        long_prompt = rng.random() < 0.05
        user_text = (
            f"{rng.choice(_TOPICS)}: {self.text(rng.randint(12, 120) * (20 if long_prompt else 1))}{extra}"
        )
        stream = operation == "chat" and rng.random() < 0.2
        include_usage = stream and rng.random() < 0.6
        system_text = "You are a helpful assistant for Contoso employees. Answer concisely."

        if operation == "embeddings":
            request_body: dict[str, Any] = {"input": user_text}
            if v1:
                request_body["model"] = deployment.name
        elif operation == "responses":
            request_body = {
                "model": deployment.name,
                "input": [{"role": "system", "content": system_text}, {"role": "user", "content": user_text}],
            }
        else:
            request_body = {
                "messages": [
                    {"role": "system", "content": system_text},
                    {"role": "user", "content": user_text},
                ],
                "max_tokens": 800,
                "temperature": 0.3,
            }
            if v1:
                request_body["model"] = deployment.name
            if stream:
                request_body["stream"] = True
                if include_usage:
                    request_body["stream_options"] = {"include_usage": True}
        request_text = _dumps(request_body)

        # What happened.
        roll = rng.random()
        if roll < 0.02:
            outcome = "apim_429"
        elif roll < 0.04:
            outcome = "backend_429"
        elif roll < 0.06 and operation != "embeddings":
            outcome = "content_filter"
        elif roll < 0.07:
            outcome = "error_500"
        else:
            outcome = "ok"

        prompt_tokens = _tokens(system_text + user_text) + 11
        cached = (prompt_tokens // 128) * 128 if prompt_tokens > 1024 and rng.random() < 0.4 else 0
        answer = self.text(rng.randint(8, 180)) if operation != "embeddings" else ""
        completion_tokens = _tokens(answer) if answer else 0
        reasoning = rng.randint(64, 1500) if deployment.kind == "reasoning" else 0
        completion_tokens += reasoning
        reached_backend = outcome != "apim_429"
        backend_time = 0.0
        if reached_backend:
            base = {"swedencentral": 380, "eastus2": 520, "francecentral": 450}[region]
            per_token = 4 if deployment.kind != "reasoning" else 9
            backend_time = float(int(base + per_token * completion_tokens * rng.uniform(0.6, 1.6)))
            if outcome != "ok":
                backend_time = float(rng.randint(40, 400))
        total_time = backend_time + rng.randint(2, 30)
        created = int(moment.timestamp())
        status = {"ok": 200, "apim_429": 429, "backend_429": 429, "content_filter": 400, "error_500": 500}[
            outcome
        ]

        headers: dict[str, str] = {}
        if reached_backend:
            headers["apim-request-id"] = apim_request_id
            if rng.random() >= 0.05:
                headers["x-ms-region"] = backend.display
            headers["x-ratelimit-remaining-requests"] = str(rng.randint(0, 1000))
            headers["x-ratelimit-remaining-tokens"] = str(rng.randint(0, 300_000))
            if outcome == "backend_429":
                wait = rng.randint(1, 30)
                headers["retry-after"] = str(wait)
                headers["retry-after-ms"] = str(wait * 1000)
                headers["x-ratelimit-remaining-requests"] = "0"
            headers["x-request-id"] = self.uuid()
        response_headers = {"retry-after": str(rng.randint(1, 60))} if outcome == "apim_429" else {}

        response_text = response_body(
            rng,
            operation,
            outcome,
            deployment,
            answer,
            created,
            prompt_tokens,
            completion_tokens,
            cached,
            reasoning,
            stream,
            include_usage,
        )
        with_bodies = subscription.logs_bodies and rng.random() > 0.02
        logged_request = _cut(request_text) if with_bodies else ""
        logged_response = _cut(response_text) if with_bodies else ""

        frontend_headers, backend_headers = caller_headers(correlation_id, subscription.id)
        gateway = {
            "TenantId": TENANT_ID,
            "TimeGenerated": _la_time(moment),
            "OperationName": "Microsoft.ApiManagement/GatewayLogs",
            "CorrelationId": correlation_id,
            "Region": backend.apim_region,
            "IsRequestSuccess": status < 400,
            "Category": "GatewayLogs",
            "TotalTime": int(total_time),
            "CallerIpAddress": rng.choice(_CALLERS),
            "Method": "POST",
            "Url": url,
            "ClientProtocol": "HTTP/1.1",
            "ResponseCode": status,
            "BackendMethod": "POST" if reached_backend else "",
            "BackendUrl": backend_url if reached_backend else "",
            "BackendResponseCode": status if reached_backend else None,
            "BackendProtocol": "HTTP/1.1" if reached_backend else "",
            "RequestSize": len(request_text.encode()) + 420,
            "ResponseSize": len(response_text.encode()) + 610,
            "Cache": "none",
            "BackendTime": int(backend_time) if reached_backend else None,
            "ClientTime": rng.randint(0, 12),
            "ApiId": "azure-openai-api",
            "OperationId": operation_id,
            "ProductId": subscription.product,
            "UserId": subscription.user,
            "ApimSubscriptionId": subscription.id,
            "BackendId": f"aoai-{region}" if reached_backend else "",
            "LastErrorReason": {
                "apim_429": "TokenLimitExceeded",
                "backend_429": "",
                "content_filter": "",
                "error_500": "",
                "ok": "",
            }[outcome],
            "LastErrorMessage": "Token limit is exceeded." if outcome == "apim_429" else "",
            "RequestHeaders": _dumps(frontend_headers),
            "ResponseHeaders": _dumps(response_headers),
            "BackendRequestHeaders": _dumps(backend_headers) if backend_headers else "",
            "BackendResponseHeaders": _dumps(headers) if headers else "",
            "RequestBody": logged_request,
            "ResponseBody": logged_response,
            "BackendRequestBody": "",
            "BackendResponseBody": "",
            "TraceRecords": "",
            "SourceSystem": "Azure",
            "Type": GATEWAY,
            "_ResourceId": APIM_RESOURCE_ID.lower(),
        }
        yield GATEWAY, gateway

        if reached_backend and rng.random() >= 0.02:
            native_op = {
                "chat": "ChatCompletions_Create",
                "embeddings": "Embeddings_Create",
                "responses": "Responses_Create",
            }[operation]
            yield (
                NATIVE,
                native_row(
                    moment + timedelta(milliseconds=rng.randint(1, 25)),
                    apim_request_id,
                    deployment,
                    region,
                    native_op,
                    status,
                    max(1.0, backend_time - rng.randint(1, 15)),
                    stream,
                    len(request_text.encode()),
                    len(response_text.encode()),
                    object_id=APIM_MANAGED_IDENTITY if rng.random() < 0.8 else "",
                ),
            )

        if outcome == "ok" and operation in ("chat", "responses") and rng.random() < 0.75:
            messages = request_body.get("messages") or request_body.get("input")
            response_messages = [{"role": "assistant", "content": answer}]
            chunks = llm_rows(
                rng,
                moment,
                correlation_id,
                deployment,
                region,
                api_version if not v1 else "v1",
                stream,
                prompt_tokens,
                completion_tokens,
                _dumps(messages),
                _dumps(response_messages),
            )
            # LLM logs arrive later than gateway rows: emit them at the end of the hour.
            late_llm.extend((LLM_LOG, chunk) for chunk in chunks)

    def malformed_rows(self) -> Iterator[tuple[str, dict]]:
        moment = _la_time(self.hour + timedelta(minutes=30))
        yield (
            GATEWAY,
            {"TimeGenerated": moment, "CorrelationId": "", "Url": "https://x/openai/deployments/a/chat"},
        )
        yield GATEWAY, {"TimeGenerated": "yesterday-ish", "CorrelationId": self.uuid(), "ResponseCode": 200}
        yield (
            NATIVE,
            {
                "TimeGenerated": moment,
                # An id longer than any key rejects the row (a cut properties_s alone only
                # leaves the properties empty, with a note).
                "CorrelationId": self.uuid() + "-" + "0" * 40,
                "ResourceProvider": "MICROSOFT.COGNITIVESERVICES",
                "Category": "RequestResponse",
                "properties_s": '{"modelDeploymentName": "gpt-4o", "modelName": ',
            },
        )
        yield LLM_LOG, {"TimeGenerated": moment, "CorrelationId": self.uuid(), "SequenceNumber": "first"}


def caller_headers(correlation_id: str, subscription: str) -> tuple[dict[str, str], dict[str, str]]:
    """The logged (frontend, backend) request headers naming the caller, as the APIM policy of
    docs/identity.md sets them: mostly on the backend request, some on the frontend request, and
    ~15% with none (then the APIM user, if any, names the caller). Its own random stream, seeded
    by the request, so the rest of the generated rows do not depend on it."""
    frontend = {"content-type": "application/json"}
    backend: dict[str, str] = {}
    callers = SUBSCRIPTION_CALLERS.get(subscription)
    if not callers:
        return frontend, backend
    rng = random.Random(f"aoai-demo-caller:{correlation_id}")
    caller = rng.choice(callers)
    roll = rng.random()
    if roll < 0.7:
        backend["x-caller-oid"] = caller
    elif roll < 0.85:
        frontend["x-caller-oid"] = caller
    return frontend, backend
