"""API keys and other secrets: well-known key shapes, then long high-entropy tokens.

Also used for masking: the detail page shows these spans masked, even to reviewers.
"""

import math
import re
from collections import Counter

from .base import Span, spans_merge

# (label, pattern, literals): a match of the pattern contains one of the literals, so a text with
# none of them is not searched (these run over every message; most have no key-like text at all).
# None: no literal; the pattern needs a run of 32 key characters (see _longest_run_at_least).
# Order matters only for the label when two shapes match the same text.
_SHAPES: list[tuple[str, re.Pattern[str], tuple[str, ...] | None]] = [
    ("private_key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z]+ )?PRIVATE KEY-----|$)"), ("-----BEGIN ",)),
    ("openai_key", re.compile(r"(?<![\w-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"), ("sk-",)),
    ("aws_access_key", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])"), ("AKIA", "ASIA")),
    ("github_token", re.compile(r"(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?!\w)"), ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    ("slack_token", re.compile(r"(?<!\w)xox[abposr]-[A-Za-z0-9-]{10,}"), ("xox",)),
    ("google_api_key", re.compile(r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])"), ("AIza",)),
    ("jwt", re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), ("eyJ",)),
    ("azure_storage_key", re.compile(r"AccountKey=[A-Za-z0-9+/]{86}=="), ("AccountKey=",)),
    # Azure OpenAI / Cognitive Services keys (and APIM subscription keys): 32 hex digits.
    ("azure_key", re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32}(?![0-9A-Za-z])"), None),
]  # fmt: skip

_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_=-]{24,}(?![A-Za-z0-9+/_=-])")
ENTROPY_MIN_BITS = 4.0


def shannon_entropy(value: str) -> float:
    counts = Counter(value)
    length = len(value)
    return -sum(n / length * math.log2(n / length) for n in counts.values())


def _looks_random(token: str) -> bool:
    # A real secret mixes classes; words, paths and base64 of text rarely reach 4 bits/char.
    has_upper = any(c.isupper() for c in token)
    has_lower = any(c.islower() for c in token)
    has_digit = any(c.isdigit() for c in token)
    if sum((has_upper, has_lower, has_digit)) < 3:
        return False
    return shannon_entropy(token) >= ENTROPY_MIN_BITS


# ASCII bytes -> b"a" for a character keys and tokens are made of, b" " for any other.
_TOKEN_BYTES = bytes(
    ord("a") if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "+/_=-") else ord(" ") for b in range(256)
)


def _longest_run_at_least(text: str, length: int) -> bool:
    """Whether ``text`` has ``length`` key/token characters in a row (cheaply: done in C)."""
    if text.isascii():
        return b"a" * length in text.encode("ascii").translate(_TOKEN_BYTES)
    return max(map(len, text.split()), default=0) >= length  # an upper bound: good enough


# Every match of a shape or of _TOKEN has this many key characters in a row (aws_access_key, 4 + 16,
# is the shortest), but for private_key, slack_token and jwt: key_like tests their literals.
_KEY_RUN = 20


def key_like(text: str, raw: bytes | None = None) -> bool:
    """False only when ``secrets_find(text)`` finds nothing; ``raw``: ``text`` encoded to ASCII, if done.

    A cheaper test than the shapes' literals one by one (most messages have no key-like text).
    """
    if "-----BEGIN " in text or "xox" in text or "eyJ" in text:
        return True
    if raw is None:  # key characters are all ASCII: any other character ("?" here) ends a run
        raw = text.encode("ascii", "replace")
    return b"a" * _KEY_RUN in raw.translate(_TOKEN_BYTES)


def secrets_find(text: str) -> list[Span]:
    has_run = _longest_run_at_least(text, 24)  # _TOKEN needs 24 key characters in a row
    spans = [
        Span(m.start(), m.end(), label)
        for label, pattern, literals in _SHAPES
        if (any(literal in text for literal in literals) if literals else has_run)
        for m in pattern.finditer(text)
    ]
    if not has_run:
        return spans_merge(spans)
    covered = [(s.start, s.end) for s in spans]
    for match in _TOKEN.finditer(text):
        if any(start < match.end() and match.start() < end for start, end in covered):
            continue
        if _looks_random(match.group()):
            spans.append(Span(match.start(), match.end(), "high_entropy_token"))
    return spans_merge(spans)


def secret_mask(value: str) -> str:
    """``sk-abc...wxyz`` -> ``sk-a••••••••wxyz``: enough to recognise, not enough to use."""
    if len(value) <= 8:
        return "•" * len(value)
    return value[:4] + "•" * 8 + value[-4:]
