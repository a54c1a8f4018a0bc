"""Jailbreak and prompt-injection phrases, case-insensitive: the English textbook phrases here, the
multilingual families and injection markers in ``injection``; ``jailbreak_find`` also reads the
normalised text (``normalise``)."""

import re

from .base import Span, spans_merge
from .injection import device_mode, injection_phrases_find
from .normalise import normalised_find

_PREVIOUS = r"(?:previous|prior|preceding|above|earlier|original|initial|system)"
_RULES = r"(?:instructions?|prompts?|rules|directions|guidelines|directives|constraints|context)"
_PHRASES = [
    rf"\b(?:ignore|disregard|forget|override|bypass|skip)\s+(?:all\s+|any\s+|the\s+|your\s+|of\s+|these\s+|those\s+)*{_PREVIOUS}\s+{_RULES}",
    rf"\b(?:ignore|disregard|forget)\s+(?:all\s+|everything\s+)?(?:you\s+were\s+told(?!\s+(?:about|regarding|concerning|on|in)\b)|your\s+{_RULES})",
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
# For letters spaced apart and joined ("i g n o r e a l l p r e v i o u s"): the same phrases with
# the spaces between words optional.
_SQUASHED = re.compile(
    "|".join(f"(?:{p})" for p in _PHRASES).replace(r"\s+", r"\s*").replace(r"\b", ""), re.IGNORECASE
)
# Every phrase contains one of these words (lower case) as a whole word, bounded by \b or \s on
# both sides: 1-2 the verb, 3 "anything", 4-5 the persona, 6-7 the mode, 8-9 what is lifted,
# 10 what is revealed, 11 "pretend". So a text none of whose words is one of them has no match.
_REQUIRED_WORDS = frozenset(
    word.encode("ascii")
    for word in (
        "ignore", "disregard", "forget", "override", "bypass", "skip",
        "anything",
        "dan", "stan", "dude", "aim",
        "developer", "god", "jailbreak", "unrestricted",
        "restrictions", "filters", "guidelines", "limitations", "censorship",
        "prompt", "instructions",
        "pretend",
    )
)  # fmt: skip

# ASCII bytes -> lower case for a word character (\w: letters, digits, "_"), a space for any other
# byte; digits all become "0", so ``b"0" in words`` tells whether the text has one (TextTraits).
WORD_BYTES = bytes(
    ord("0") if chr(b).isdigit() and chr(b).isascii()
    else ord(chr(b).lower()) if chr(b).isascii() and (chr(b).isalnum() or chr(b) == "_")
    else ord(" ")
    for b in range(256)
)  # fmt: skip


def required_word_present(words: bytes) -> bool:
    """Whether ``words`` (ASCII text translated with ``WORD_BYTES``) has one of the required words.

    One C-level split and set test instead of a substring scan per word (most texts have none).
    """
    return not _REQUIRED_WORDS.isdisjoint(words.split())


# The only non-ASCII characters IGNORECASE pairs with an ASCII letter (sre's case folding; checked
# over every code point in the tests): written as that letter before the word test.
_FOLDED = "\u0130\u0131\u017f\u212a"  # İ ı ſ K
_FOLDS = str.maketrans(_FOLDED, "iisk")


def text_words(text: str) -> bytes:
    """``text`` as ``WORD_BYTES`` gives it; any other non-ASCII character becomes a space.

    A non-ASCII character can only split a word here (it is a space, a letter may not be), so a
    required word of a match is still a whole word: the word test stays a superset of the regex.
    """
    if text.isascii():
        return text.encode("ascii").translate(WORD_BYTES)
    if any(char in text for char in _FOLDED):  # rare: translate only then
        text = text.translate(_FOLDS)
    return text.encode("ascii", "replace").translate(WORD_BYTES)  # "?" for the others: a space


def _may_match(text: str) -> bool:
    """False only when no phrase can match: a word test instead of the regex scan."""
    return required_word_present(text_words(text))


def jailbreak_phrases_find(text: str) -> list[Span]:
    """The phrases in ``text`` as it is (no normalisation)."""
    spans = injection_phrases_find(text)  # its own anchor test
    if _may_match(text):
        spans.extend(
            Span(m.start(), m.end(), "jailbreak_phrase")
            for m in _PATTERN.finditer(text)
            if not _about_a_device(text, m)
        )
    return spans_merge(spans)


def _about_a_device(text: str, match: re.Match[str]) -> bool:
    return "mode" in match.group().lower() and device_mode(text, match.start(), match.end())


def _squashed_find(text: str) -> list[Span]:
    # Only run on readings with spaced letters joined (rare): no word test, words run together.
    return [Span(m.start(), m.end(), "jailbreak_phrase") for m in _SQUASHED.finditer(text)]


def jailbreak_find(text: str) -> list[Span]:
    """The phrases in ``text`` and in its normalised readings; spans point into ``text``."""
    return normalised_find(jailbreak_phrases_find, text, words=True, squashed_find=_squashed_find)
