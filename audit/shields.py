"""Azure AI Content Safety Prompt Shields, an optional detector that asks the service.

``POST {endpoint}/contentsafety/text:shieldPrompt?api-version=2024-09-01`` with the key in
``Ocp-Apim-Subscription-Key`` and ``{"userPrompt": ..., "documents": [...]}``; the answer says
``userPromptAnalysis.attackDetected`` and ``documentsAnalysis[i].attackDetected``. One call per
request: its last user message is the prompt, its tool / function outputs the documents (what a
third party wrote). Earlier user messages are history: the request that sent them was checked then.

Off unless ``REVIEW_PROMPT_SHIELDS_ENDPOINT`` and ``_KEY`` are set. It must never hold up ingestion
nor review, so every call has a timeout, a batch makes at most ``_MAX_CALLS`` calls (a few at a
time), a 429 is waited out only when its ``Retry-After`` is short, and after a run of failures
or a long throttle the rest of the batch is not sent. A request left unchecked is named in
``ShieldsOutcome.unchecked`` (its earlier verdict is kept) and the reason in ``notes``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from .conversation import Conversation
from .detectors import PROMPT_SHIELDS_DETECTOR as DETECTOR

log = logging.getLogger(__name__)

API_VERSION = "2024-09-01"
# The service's input limits: the prompt, and the documents together, in characters; documents.
MAX_PROMPT_CHARS = 10_000
MAX_DOCUMENT_CHARS = 10_000
MAX_DOCUMENTS = 5
_DOCUMENT_ROLES = {"tool", "function"}
# Failures in a row (timeouts, refused connections, 5xx) after which the batch stops calling.
_FAILURES_TO_STOP = 3
_RETRIES_AFTER_429 = 2


@dataclass(frozen=True)
class ShieldsConfig:
    endpoint: str
    key: str
    timeout: float = 5.0
    max_calls: int = 200
    concurrency: int = 4
    max_retry_after: float = 10.0

    @classmethod
    def from_settings(cls) -> ShieldsConfig | None:
        if not settings.REVIEW_PROMPT_SHIELDS_ENDPOINT or not settings.REVIEW_PROMPT_SHIELDS_KEY:
            return None
        if DETECTOR in settings.REVIEW_DISABLED_DETECTORS:
            return None
        return cls(
            endpoint=settings.REVIEW_PROMPT_SHIELDS_ENDPOINT.rstrip("/"),
            key=settings.REVIEW_PROMPT_SHIELDS_KEY,
            timeout=settings.REVIEW_PROMPT_SHIELDS_TIMEOUT_SECONDS,
            max_calls=settings.REVIEW_PROMPT_SHIELDS_MAX_CALLS,
            concurrency=settings.REVIEW_PROMPT_SHIELDS_CONCURRENCY,
            max_retry_after=settings.REVIEW_PROMPT_SHIELDS_MAX_RETRY_AFTER_SECONDS,
        )


@dataclass(frozen=True)
class ShieldPart:
    """One text sent: where it is in the conversation and how much of it was sent."""

    part: str  # prompt
    message: int
    length: int


@dataclass(frozen=True)
class ShieldInput:
    prompt: ShieldPart | None
    prompt_text: str
    documents: list[tuple[ShieldPart, str]]


@dataclass(frozen=True)
class ShieldAttack:
    kind: str  # user_prompt_attack | document_attack
    where: ShieldPart


@dataclass
class ShieldsOutcome:
    attacks: dict[Any, list[ShieldAttack]] = field(default_factory=dict)  # key -> attacks (empty: none)
    unchecked: set[Any] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


class ShieldError(Exception):
    """The call failed (timeout, refused, 4xx/5xx, an answer of another shape)."""


class ShieldThrottled(ShieldError):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__(f"throttled (Retry-After {retry_after})")
        self.retry_after = retry_after


def shield_input_build(conversation: Conversation) -> ShieldInput | None:
    """What one request sends: its last user message and its latest tool outputs, cut to the limits."""
    prompt: ShieldPart | None = None
    prompt_text = ""
    for index in range(len(conversation.messages) - 1, -1, -1):
        message = conversation.messages[index]
        if message.role == "user" and message.text.strip():
            prompt_text = message.text[:MAX_PROMPT_CHARS]
            prompt = ShieldPart("prompt", index, len(prompt_text))
            break
    documents: list[tuple[ShieldPart, str]] = []
    room = MAX_DOCUMENT_CHARS
    for index in range(len(conversation.messages) - 1, -1, -1):
        message = conversation.messages[index]
        if message.role not in _DOCUMENT_ROLES or not message.text.strip():
            continue
        if len(documents) == MAX_DOCUMENTS or room <= 0:
            break
        text = message.text[:room]
        room -= len(text)
        documents.append((ShieldPart("prompt", index, len(text)), text))
    if prompt is None and not documents:
        return None
    return ShieldInput(prompt, prompt_text, documents[::-1])


def _retry_after(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        if value:
            try:
                return max(float(value) * scale, 0.0)
            except ValueError:
                continue
    return None


def shield_prompt_call(*, config: ShieldsConfig, user_prompt: str, documents: list[str]) -> dict[str, Any]:
    """One ``shieldPrompt`` call; the decoded answer, or ShieldError / ShieldThrottled."""
    url = f"{config.endpoint}/contentsafety/text:shieldPrompt?api-version={API_VERSION}"
    body = json.dumps({"userPrompt": user_prompt, "documents": documents}).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Ocp-Apim-Subscription-Key": config.key},
    )
    try:
        with urllib.request.urlopen(request, timeout=config.timeout) as response:  # noqa: S310 - configured endpoint
            answer = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        if exc.code == 429:
            raise ShieldThrottled(_retry_after(exc.headers)) from exc
        raise ShieldError(f"HTTP {exc.code}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ShieldError(f"unreachable ({getattr(exc, 'reason', exc)})") from exc
    except ValueError as exc:
        raise ShieldError("an answer that is not JSON") from exc
    if not isinstance(answer, dict):
        raise ShieldError("an answer of another shape")
    return answer


def _attacks(sent: ShieldInput, answer: dict[str, Any]) -> list[ShieldAttack]:
    found: list[ShieldAttack] = []
    prompt = answer.get("userPromptAnalysis")
    if sent.prompt is not None and isinstance(prompt, dict) and prompt.get("attackDetected") is True:
        found.append(ShieldAttack("user_prompt_attack", sent.prompt))
    documents = answer.get("documentsAnalysis")
    if isinstance(documents, list):
        for (where, _), result in zip(sent.documents, documents, strict=False):
            if isinstance(result, dict) and result.get("attackDetected") is True:
                found.append(ShieldAttack("document_attack", where))
    return found


class _Batch:
    """The state the calls of one batch share: calls left, failures in a row, why it stopped."""

    def __init__(self, config: ShieldsConfig, sleep: Callable[[float], None]) -> None:
        self.config = config
        self.sleep = sleep
        self.calls_left = config.max_calls
        self.failures = 0
        self.stopped = ""
        self.errors: dict[str, int] = {}
        self.lock = threading.Lock()

    def take_call(self) -> bool:
        with self.lock:
            if self.stopped or self.calls_left <= 0:
                return False
            self.calls_left -= 1
            return True

    def failed(self, reason: str) -> None:
        with self.lock:
            self.failures += 1
            self.errors[reason] = self.errors.get(reason, 0) + 1
            if self.failures >= _FAILURES_TO_STOP and not self.stopped:
                self.stopped = f"{self.failures} failures in a row ({reason})"

    def succeeded(self) -> None:
        with self.lock:
            self.failures = 0

    def check(self, sent: ShieldInput) -> list[ShieldAttack] | None:
        """The attacks in one request's texts; None when it could not be checked."""
        for attempt in range(_RETRIES_AFTER_429 + 1):
            if not self.take_call():
                return None
            try:
                answer = shield_prompt_call(
                    config=self.config, user_prompt=sent.prompt_text, documents=[t for _, t in sent.documents]
                )
            except ShieldThrottled as exc:
                wait = exc.retry_after if exc.retry_after is not None else 1.0
                if wait > self.config.max_retry_after or attempt == _RETRIES_AFTER_429:
                    with self.lock:
                        self.stopped = self.stopped or f"throttled (Retry-After {wait:g} s)"
                    return None
                self.sleep(wait)
                continue
            except ShieldError as exc:
                self.failed(str(exc))
                return None
            self.succeeded()
            return _attacks(sent, answer)
        return None


def shields_check(
    *,
    inputs: dict[Any, ShieldInput],
    config: ShieldsConfig,
    sleep: Callable[[float], None] = time.sleep,
) -> ShieldsOutcome:
    """Ask Prompt Shields about each input (key: the caller's request id); never raises."""
    outcome = ShieldsOutcome()
    if not inputs:
        return outcome
    batch = _Batch(config, sleep)
    keys = list(inputs)
    with ThreadPoolExecutor(max_workers=max(1, min(config.concurrency, len(keys)))) as pool:
        results = list(pool.map(lambda key: batch.check(inputs[key]), keys))
    for key, attacks in zip(keys, results, strict=True):
        if attacks is None:
            outcome.unchecked.add(key)
        else:
            outcome.attacks[key] = attacks
    if outcome.unchecked:
        reasons = batch.stopped or "call limit of the batch reached"
        if batch.errors and not batch.stopped:
            reasons = ", ".join(f"{reason} x{count}" for reason, count in sorted(batch.errors.items()))
        note = (
            f"Prompt Shields: {len(outcome.unchecked)} of {len(keys)} requests not checked ({reasons}); "
            "their earlier Prompt Shields verdicts are kept, the local detectors ran"
        )
        outcome.notes.append(note)
        log.warning(note)
    return outcome
