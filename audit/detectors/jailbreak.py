"""Jailbreak and prompt-injection phrases (English), case-insensitive."""

import re

from .base import Span, spans_merge

_PREVIOUS = r"(?:previous|prior|preceding|above|earlier|original|initial|system)"
_RULES = r"(?:instructions?|prompts?|rules|directions|guidelines|directives|constraints|context)"
_PHRASES = [
    rf"\b(?:ignore|disregard|forget|override|bypass|skip)\s+(?:all\s+|any\s+|the\s+|your\s+|of\s+|these\s+|those\s+)*{_PREVIOUS}\s+{_RULES}",
    rf"\b(?:ignore|disregard|forget)\s+(?:all\s+|everything\s+)?(?:you\s+were\s+told|your\s+{_RULES})",
    r"\bdo\s+anything\s+now\b",
    r"\byou\s+are\s+(?:now\s+)?(?:DAN|STAN|DUDE|AIM)\b",
    r"\bact\s+as\s+(?:a\s+)?DAN\b",
    r"\b(?:developer|god|jailbreak|unrestricted)\s+mode\s+(?:enabled|activated|on)\b",
    r"\benable\s+(?:developer|god|jailbreak)\s+mode\b",
    r"\b(?:without|with\s+no|free\s+of)\s+(?:any\s+)?(?:ethical|content|safety|moral)\s+(?:restrictions|filters|guidelines|limitations|censorship)\b",
    r"\bwithout\s+any\s+(?:restrictions|filters|censorship)\b",
    r"\b(?:reveal|show|print|repeat|output)\s+(?:me\s+)?(?:your|the)\s+(?:system\s+prompt|hidden\s+instructions|initial\s+instructions)\b",
    r"\bpretend\s+(?:that\s+)?you\s+(?:are|have)\s+(?:no|not\s+bound|an?\s+unfiltered|an?\s+uncensored)",
]
_PATTERN = re.compile("|".join(f"(?:{p})" for p in _PHRASES), re.IGNORECASE)
# Every phrase contains one of these words (lower case): 1-2 the verb, 3 "anything", 6-7 the
# mode, 8-9 what is lifted, 10 what is revealed, 11 "pretend"; 4-5 end in a persona after a space
# and before a word boundary (as a substring "stan" would be in every "understand").
_REQUIRED_WORDS = (
    "ignore", "disregard", "forget", "override", "bypass", "skip",
    "anything",
    "developer", "god", "jailbreak", "unrestricted",
    "restrictions", "filters", "guidelines", "limitations", "censorship",
    "prompt", "instructions",
    "pretend",
)  # fmt: skip
_PERSONAS = ("dan", "stan", "dude", "aim")


def _persona_follows_space(lowered: str, word: str) -> bool:
    start = lowered.find(word, 1)
    while start >= 0:
        end = start + len(word)
        after = lowered[end : end + 1]
        if lowered[start - 1].isspace() and not (after.isalnum() or after == "_"):
            return True
        start = lowered.find(word, start + 1)
    return False


def _may_match(text: str) -> bool:
    """False only when no phrase can match: cheap substring tests instead of the regex scan.

    Exact for ASCII text (IGNORECASE then only pairs ASCII letters, as ``lower`` does); other
    text may match through Unicode case folding (``ſ`` for ``s``, ``K`` for ``k``), so it is
    always searched.
    """
    if not text.isascii():
        return True
    lowered = text.lower()
    return any(word in lowered for word in _REQUIRED_WORDS) or any(
        _persona_follows_space(lowered, word) for word in _PERSONAS
    )


def jailbreak_phrases_find(text: str) -> list[Span]:
    if not _may_match(text):
        return []
    return spans_merge([Span(m.start(), m.end(), "jailbreak_phrase") for m in _PATTERN.finditer(text)])
