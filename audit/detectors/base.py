"""What every detector returns: spans with offsets into the text it was given."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """``text[start:end]`` matched ``label`` (a detector kind, e.g. ``credit_card`` or ``aws_key``)."""

    start: int
    end: int
    label: str


def spans_merge(spans: list[Span]) -> list[Span]:
    """Drop spans that lie inside an earlier, longer one (two patterns matching the same text)."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        if kept and span.start >= kept[-1].start and span.end <= kept[-1].end:
            continue
        kept.append(span)
    return kept
