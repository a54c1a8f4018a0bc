"""Built-in detectors, all offline and pure: ``text -> list[Span]`` (offsets into ``text``).

``TEXT_DETECTORS`` is the registry ``flags_evaluate`` runs over every message; Azure's own
verdicts are read from the stored filter results instead (``azure_verdicts_find``).
Severities: 1 low, 2 medium, 3 high, 4 critical (``audit.models.Severity``).
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter

from django.conf import settings

from .azure import (
    AZURE_ATTACK_FLAGS,
    AzureVerdicts,
    azure_attacks_find,
    azure_verdicts_find,
    verdict_severity,
)
from .base import Span, spans_merge
from .jailbreak import jailbreak_find, jailbreak_phrases_find
from .normalise import normalised_find
from .pii import (
    credit_cards_find,
    emails_find,
    iban_valid,
    ibans_find,
    luhn_valid,
    national_ids_find,
    pattern_requires_digit,
    phones_find,
    us_ssns_find,
)
from .secrets import secret_mask, secrets_find
from .traits import TextTraits, text_traits

AZURE_DETECTOR = "azure_content_filter"
# Azure AI Content Safety Prompt Shields, asked over HTTP when configured (audit.shields).
PROMPT_SHIELDS_DETECTOR = "prompt_shields"
# A local prompt-attack model, when one is installed and configured (audit.classifier).
CLASSIFIER_DETECTOR = "classifier"


@dataclass(frozen=True)
class TextDetector:
    name: str
    label: str
    severity: int
    find: Callable[[str], list[Span]]
    # Masked on display, even to reviewers (reveal is an audited action).
    masked: bool = False
    # False when ``find`` would find nothing in a text with these traits (flags_evaluate skips it).
    may_find: Callable[[TextTraits], bool] = lambda traits: True


@lru_cache(maxsize=8)
def _national_id_patterns(raw: str) -> dict[str, re.Pattern[str]]:
    return {name: re.compile(pattern) for name, pattern in json.loads(raw).items()}


# (settings value, its patterns, whether every one needs a digit)
_compiled_for: tuple[dict[str, str], dict[str, re.Pattern[str]], bool] | None = None


def _national_id_config() -> tuple[dict[str, str], dict[str, re.Pattern[str]], bool]:
    global _compiled_for
    configured = settings.REVIEW_NATIONAL_ID_PATTERNS
    # Called for every message: reuse the last patterns while the setting has the same content
    # (a copy is kept, so an edit in place is noticed too).
    last = _compiled_for
    if last is not None and last[0] == configured:
        return last
    patterns = _national_id_patterns(json.dumps(configured, sort_keys=True))
    need_digit = all(pattern_requires_digit(p) for p in patterns.values())
    _compiled_for = (dict(configured), patterns, need_digit)
    return _compiled_for


def national_id_patterns() -> dict[str, re.Pattern[str]]:
    return _national_id_config()[1]


def _national_ids(text: str) -> list[Span]:
    return national_ids_find(text, patterns=national_id_patterns())


def _national_ids_may_find(traits: TextTraits) -> bool:
    return traits.digit or not _national_id_config()[2]


def _normalised(find: Callable[[str], list[Span]]) -> Callable[[str], list[Span]]:
    """``find`` over the text and its normalised readings (NFKC, look-alikes, decoded segments)."""

    def find_normalised(text: str) -> list[Span]:
        return normalised_find(find, text)

    return find_normalised


def _or_readings(trait: Callable[[TextTraits], bool]) -> Callable[[TextTraits], bool]:
    """A reading of the text may hold what the text itself does not (fullwidth digits, base64)."""
    return lambda traits: traits.readings or trait(traits)


TEXT_DETECTORS: list[TextDetector] = [
    TextDetector(
        "email", "E-mail address", 1, _normalised(emails_find), may_find=_or_readings(attrgetter("at"))
    ),
    TextDetector(
        "phone", "Phone number", 1, _normalised(phones_find), may_find=_or_readings(attrgetter("digit"))
    ),
    TextDetector(
        "credit_card",
        "Credit-card number (Luhn)",
        3,
        _normalised(credit_cards_find),
        masked=True,
        may_find=_or_readings(attrgetter("digit")),
    ),
    TextDetector(
        "iban", "IBAN (mod-97)", 2, _normalised(ibans_find), may_find=_or_readings(attrgetter("digit"))
    ),
    TextDetector(
        "us_ssn",
        "US social security number",
        3,
        _normalised(us_ssns_find),
        masked=True,
        may_find=_or_readings(attrgetter("digit")),
    ),
    TextDetector(
        "national_id",
        "National id",
        2,
        _normalised(_national_ids),
        may_find=_or_readings(_national_ids_may_find),
    ),
    TextDetector(
        "secret",
        "API key or secret",
        3,
        _normalised(secrets_find),
        masked=True,
        may_find=_or_readings(attrgetter("key_like")),
    ),
    TextDetector(
        "jailbreak",
        "Jailbreak / prompt injection",
        3,
        jailbreak_find,
        may_find=_or_readings(attrgetter("jailbreak_word")),
    ),
]
DETECTOR_LABELS = {d.name: d.label for d in TEXT_DETECTORS} | {
    AZURE_DETECTOR: "Azure content filter",
    AZURE_ATTACK_FLAGS["jailbreak"]: "Azure Prompt Shields: jailbreak (filter annotation)",
    AZURE_ATTACK_FLAGS["indirect_attack"]: "Azure Prompt Shields: indirect attack (filter annotation)",
    PROMPT_SHIELDS_DETECTOR: "Azure Prompt Shields",
    CLASSIFIER_DETECTOR: "Local classifier",
}


def text_detectors_enabled() -> list[TextDetector]:
    disabled = set(settings.REVIEW_DISABLED_DETECTORS)
    return [d for d in TEXT_DETECTORS if d.name not in disabled]


def masked_spans_find(text: str) -> list[Span]:
    """Spans shown masked on the detail page (secrets, card numbers, SSNs)."""
    spans: list[Span] = []
    for detector in TEXT_DETECTORS:
        if detector.masked:
            spans.extend(detector.find(text))
    return spans_merge(spans)


__all__ = [
    "AZURE_DETECTOR",
    "AZURE_ATTACK_FLAGS",
    "AzureVerdicts",
    "azure_attacks_find",
    "CLASSIFIER_DETECTOR",
    "DETECTOR_LABELS",
    "PROMPT_SHIELDS_DETECTOR",
    "Span",
    "TEXT_DETECTORS",
    "TextDetector",
    "TextTraits",
    "azure_verdicts_find",
    "credit_cards_find",
    "emails_find",
    "iban_valid",
    "ibans_find",
    "jailbreak_find",
    "jailbreak_phrases_find",
    "luhn_valid",
    "masked_spans_find",
    "national_id_patterns",
    "national_ids_find",
    "normalised_find",
    "phones_find",
    "secret_mask",
    "secrets_find",
    "spans_merge",
    "text_detectors_enabled",
    "text_traits",
    "us_ssns_find",
    "verdict_severity",
]
