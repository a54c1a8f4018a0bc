"""A local stand-in for Azure AI Content Safety Prompt Shields, for tests and benchmarks.

``POST /contentsafety/text:shieldPrompt?api-version=2024-09-01`` with ``Ocp-Apim-Subscription-Key``
and ``{"userPrompt": str, "documents": [str]}`` answers like the service:
``{"userPromptAnalysis": {"attackDetected": bool}, "documentsAnalysis": [{"attackDetected": bool}]}``.
A missing or wrong key answers 401, another api-version or a body the service refuses (not JSON,
a prompt or documents over the input limits, more than five documents) 400 with
``{"error": {"code", "message"}}``, as the service does. ``attack`` decides what is an attack (by
default: one of ``ATTACK_WORDS`` in the text). ``throttle_next`` answers the next calls 429 with a
``Retry-After``; ``fail_next`` answers them 500; ``delay`` holds every answer (for timeouts).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aoai_portal.emulators import JsonHandler, LocalHttpServer

API_VERSION = "2024-09-01"
PATH = "/contentsafety/text:shieldPrompt"
MAX_CHARS = 10_000
MAX_DOCUMENTS = 5
ATTACK_WORDS = ("ignore previous instructions", "you are now dan", "forward all invoices")


def _default_attack(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in ATTACK_WORDS)


@dataclass
class PromptShieldsEmulator(LocalHttpServer):
    key: str = "test-key"
    attack: Callable[[str], bool] = _default_attack
    delay: float = 0.0
    host: str = "127.0.0.1"
    requests: list[dict[str, Any]] = field(default_factory=list)  # every body received
    _throttles: list[float] = field(default_factory=list)
    _failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        """What to put in REVIEW_PROMPT_SHIELDS_ENDPOINT."""
        return self.base_url

    def http_handler(self) -> type[JsonHandler]:
        return _handler_for(self)

    def throttle_next(self, count: int = 1, *, retry_after: float = 1) -> None:
        with self._lock:
            self._throttles.extend([retry_after] * count)

    def fail_next(self, count: int = 1) -> None:
        with self._lock:
            self._failures += count

    def answer(self, *, path: str, query: str, headers: Any, raw: bytes) -> tuple[int, dict[str, str], Any]:
        if path != PATH:
            return 404, {}, _error("NotFound", "Resource not found")
        if headers.get("Ocp-Apim-Subscription-Key") != self.key:
            return 401, {}, _error("401", "Access denied due to invalid subscription key.")
        if parse_qs(query).get("api-version") != [API_VERSION]:
            return 400, {}, _error("InvalidRequestBody", "Unsupported api-version.")
        with self._lock:
            if self._throttles:
                return (
                    429,
                    {"Retry-After": f"{self._throttles.pop(0):g}"},
                    _error("429", "Rate limit is exceeded."),
                )
            if self._failures:
                self._failures -= 1
                return 500, {}, _error("InternalServerError", "Something went wrong.")
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            return 400, {}, _error("InvalidRequestBody", "The request body is not valid JSON.")
        prompt, documents = body.get("userPrompt", ""), body.get("documents", [])
        if not isinstance(prompt, str) or not isinstance(documents, list):
            return 400, {}, _error("InvalidRequestBody", "userPrompt must be a string, documents a list.")
        if not all(isinstance(d, str) for d in documents) or len(documents) > MAX_DOCUMENTS:
            return 400, {}, _error("InvalidRequestBody", "At most 5 documents, each a string.")
        if len(prompt) > MAX_CHARS or sum(len(d) for d in documents) > MAX_CHARS:
            return 400, {}, _error("InvalidRequestBody", "Text exceeds the maximum length.")
        with self._lock:
            self.requests.append(body)
        return (
            200,
            {},
            {
                "userPromptAnalysis": {"attackDetected": bool(prompt) and self.attack(prompt)},
                "documentsAnalysis": [{"attackDetected": self.attack(d)} for d in documents],
            },
        )


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _handler_for(emulator: PromptShieldsEmulator) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            raw = self.body_read()
            if emulator.delay:
                time.sleep(emulator.delay)
            status, headers, payload = emulator.answer(
                path=parts.path, query=parts.query, headers=self.headers, raw=raw
            )
            self.json_send(status, payload, headers)

    return Handler
