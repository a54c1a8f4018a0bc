"""The optional local classifier: a scoring hook for a prompt-attack model installed as a package.

Off unless ``REVIEW_CLASSIFIER`` names one, as ``package.module:attribute`` (or the last dot for
the colon). The attribute is a class or factory called once without arguments, or an object
already built; what it gives must have ``name`` and ``scores(texts) -> list[float]`` (one score
in [0, 1] per text, the probability of an injection or jailbreak). The model must come with the
package: nothing is downloaded here, and the Hugging Face libraries are put offline before the
import (``HF_HUB_OFFLINE``), so a plugin that would fetch weights fails at loading instead.

Scored: the user and tool messages of the prompt, each cut to ``MAX_CHARS``; one ``scores`` call
per evaluation batch, so a model can batch on its side.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

from django.conf import settings

from .conversation import Conversation

log = logging.getLogger(__name__)

MAX_CHARS = 4_000
_SCORED_ROLES = {"user", "tool", "function"}
_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


@runtime_checkable
class PromptClassifier(Protocol):
    name: str

    def scores(self, texts: Sequence[str]) -> list[float]: ...


class ClassifierUnavailable(Exception):
    """The configured classifier cannot be imported, built or run."""


@dataclass(frozen=True)
class MessageScore:
    part: str
    message: int
    score: float


@lru_cache(maxsize=4)
def _load(path: str) -> PromptClassifier:
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    for name, value in _OFFLINE.items():
        os.environ.setdefault(name, value)
    try:
        target: Any = getattr(importlib.import_module(module_name), attribute)
        classifier = target() if isinstance(target, type) or not hasattr(target, "scores") else target
    except Exception as exc:  # noqa: BLE001 - a plugin may fail in any way; evaluation goes on
        raise ClassifierUnavailable(f"{path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(classifier, PromptClassifier):
        raise ClassifierUnavailable(f"{path}: gives no name and scores(texts)")
    return classifier


def classifier_get() -> PromptClassifier | None:
    """The configured classifier, loaded once; None when off. ClassifierUnavailable when broken."""
    path = settings.REVIEW_CLASSIFIER
    if not path or "classifier" in settings.REVIEW_DISABLED_DETECTORS:
        return None
    return _load(path)


def conversations_score(
    *, classifier: PromptClassifier, conversations: dict[Any, Conversation]
) -> dict[Any, list[MessageScore]]:
    """Each conversation's scored messages (user and tool ones); ClassifierUnavailable on failure."""
    keys: list[tuple[Any, int]] = []
    texts: list[str] = []
    for key, conversation in conversations.items():
        for index, message in enumerate(conversation.messages):
            if message.role in _SCORED_ROLES and message.text.strip():
                keys.append((key, index))
                texts.append(message.text[:MAX_CHARS])
    if not texts:
        return {}
    try:
        scores = [float(score) for score in classifier.scores(texts)]
    except Exception as exc:  # noqa: BLE001 - a plugin may fail in any way; evaluation goes on
        raise ClassifierUnavailable(f"{classifier.name}: {type(exc).__name__}: {exc}") from exc
    if len(scores) != len(texts) or not all(0.0 <= score <= 1.0 for score in scores):
        raise ClassifierUnavailable(f"{classifier.name}: not one score in [0, 1] per text")
    found: dict[Any, list[MessageScore]] = {}
    for (key, index), score in zip(keys, scores, strict=True):
        found.setdefault(key, []).append(MessageScore("prompt", index, round(score, 4)))
    return found
