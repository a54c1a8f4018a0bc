"""The salvage pattern's unrolled string loop matches exactly what the per-character one did."""

import random
import re

from audit.conversation import _CONTENT, _salvage

# The pattern as first written: one alternation per character of the string value.
_PER_CHARACTER = re.compile(r'"(?:content|text|input|prompt|instructions)"\s*:\s*"((?:[^"\\]|\\.)*)("?)')


def _bodies() -> list[str]:
    rng = random.Random(9)
    pieces = ['"content"', '"text"', '"role"', ": ", ":", '"', "\\", '\\"', "\\\\", "\\n", "\n", "\\\n", "a", "é", " ", "\\u00e9", "\\u00", "}", "{"]  # fmt: skip
    bodies = [
        '{"messages": [{"role": "user", "content": "hi \\"there\\" \\\\ end"}]}',
        '"content": "cut \\',
        "",
    ]
    for _ in range(3000):
        bodies.append("".join(rng.choice(pieces) for _ in range(rng.randint(1, 30))))
    return bodies


def test_the_unrolled_pattern_matches_the_same_spans():
    for body in _bodies():
        assert [(m.span(), m.span(1), m.span(2)) for m in _CONTENT.finditer(body)] == [
            (m.span(), m.span(1), m.span(2)) for m in _PER_CHARACTER.finditer(body)
        ], body
    assert sum(bool(_salvage(body, "user")) for body in _bodies()) > 50
