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


def jailbreak_phrases_find(text: str) -> list[Span]:
    return spans_merge([Span(m.start(), m.end(), "jailbreak_phrase") for m in _PATTERN.finditer(text)])
