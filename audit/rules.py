"""Admin-defined flag rules: validation on save and matching with a time limit.

Patterns run on the ``regex`` module, whose matcher takes a ``timeout``: a pattern that
backtracks catastrophically is refused on save (it is tried on adversarial texts made from
its own characters) and, should one slip through, stopped at run time instead of hanging a batch.
"""

import logging
from functools import lru_cache

import regex
from django.conf import settings

from .detectors import Span

log = logging.getLogger(__name__)

# Groups that repeat something that itself repeats: (a+)+, (\w*)*, (x{1,9})+ ...
_NESTED_QUANTIFIER = regex.compile(r"\((?:[^()\\]|\\.)*[+*}]\)(?:[+*]|\{\d*,?\d*\})")
PROBE_LENGTH = 3000


class RuleTimeout(Exception):
    pass


def _keywords(pattern: str) -> list[str]:
    return [line.strip() for line in pattern.splitlines() if line.strip()]


def _source(kind: str, pattern: str) -> str:
    if kind == "keywords":
        alternatives = "|".join(regex.escape(k) for k in sorted(_keywords(pattern), key=len, reverse=True))
        return rf"(?<!\w)(?:{alternatives})(?!\w)"
    return pattern


@lru_cache(maxsize=256)
def rule_compile(*, kind: str, pattern: str, case_sensitive: bool) -> regex.Pattern[str]:
    flags = regex.VERSION0 | (0 if case_sensitive else regex.IGNORECASE)
    return regex.compile(_source(kind, pattern), flags)


def _probes(pattern: str) -> list[str]:
    chars = sorted({c for c in pattern if c.isalnum() or c in " _-.@"} | {"a", "1", " "})
    probes = [c * PROBE_LENGTH + "\x00" for c in chars]
    probes.append("".join(chars) * (PROBE_LENGTH // max(len(chars), 1)) + "\x00")
    return probes


def rule_pattern_validate(*, kind: str, pattern: str, case_sensitive: bool = False) -> None:
    """Raise ``ValueError`` with a message for the admin if the rule cannot be used safely."""
    if kind == "keywords":
        if not _keywords(pattern):
            raise ValueError("Give at least one keyword (one per line).")
    elif kind == "regex":
        if not pattern.strip():
            raise ValueError("The regular expression is empty.")
        if _NESTED_QUANTIFIER.search(pattern):
            raise ValueError(
                "Nested quantifiers like (a+)+ can take exponential time (catastrophic backtracking)."
            )
    else:
        raise ValueError(f"Unknown rule kind {kind!r}.")
    try:
        compiled = rule_compile(kind=kind, pattern=pattern, case_sensitive=case_sensitive)
    except regex.error as exc:
        raise ValueError(f"Invalid regular expression: {exc}") from exc
    if compiled.search("") is not None:
        raise ValueError("The pattern matches empty text, so it would flag every request.")
    timeout = settings.REVIEW_RULE_VALIDATE_TIMEOUT_SECONDS
    for probe in _probes(pattern):
        try:
            compiled.search(probe, timeout=timeout)
        except TimeoutError as exc:
            raise ValueError(
                "The pattern is too slow on long input (catastrophic backtracking); simplify it."
            ) from exc


def rule_spans_find(*, kind: str, pattern: str, case_sensitive: bool, text: str, label: str) -> list[Span]:
    """Matches of one rule in ``text``; raises ``RuleTimeout`` past REVIEW_RULE_TIMEOUT_SECONDS."""
    compiled = rule_compile(kind=kind, pattern=pattern, case_sensitive=case_sensitive)
    try:
        return [
            Span(m.start(), m.end(), label)
            for m in compiled.finditer(text, timeout=settings.REVIEW_RULE_TIMEOUT_SECONDS)
            if m.end() > m.start()
        ]
    except TimeoutError as exc:
        raise RuleTimeout(label) from exc
