"""Other readings of a message, so obfuscated text meets the same detectors as plain text.

A reading (``View``) is the text after Unicode NFKC, with zero-width and bidi controls removed and
common Cyrillic/Greek look-alikes folded to Latin; for word detectors (``words=True``) also with
leetspeak digits inside words as letters and letters spaced apart ("i g n o r e") joined; and each
base64, hex or URL-encoded segment that decodes to printable text. Every character of a reading
keeps the offsets of the original characters it came from, so a span found in a reading is mapped
back to the original text (``View.span``); a decoded segment maps to the whole encoded segment.

Detectors run on every message: ``views`` first asks ``may_differ`` (an ASCII scan in C and one
precompiled regex) and returns nothing for the common plain message.
"""

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import unquote

from .base import Span, spans_merge

# Zero-width, joiners, bidi embeddings/overrides/isolates, soft hyphen, word joiner, BOM.
_INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)
# Cyrillic and Greek letters that look like Latin ones (after NFKC), and a few symbols.
_CONFUSABLES = dict(
    zip(
        "АВЕКМНОРСТХУаеорсухіјѕԁһӏԛԝІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧαοριυνκτ℮ɡᴏ",
        "ABEKMHOPCTXYaeopcyxijsdhlqwIJSABEZHIKMNOPTYXaopiuvktego",
        strict=True,
    )
)
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s"}

# Cheap test that a reading could differ from the ASCII text: a leet word, spaced letters, an
# encoded segment. Non-ASCII text always gets the readings.
_ASCII_SUSPECT = re.compile(
    r"[A-Za-z][0134578@$]|[0134578@$][A-Za-z]"  # leet inside a word
    r"|(?<![^\W_])[A-Za-z][ ._*-][A-Za-z][ ._*-][A-Za-z](?![^\W_])"  # s p a c e d
    r"|[A-Za-z0-9+/]{16}"  # base64 / hex run
    r"|%[0-9A-Fa-f]{2}"  # URL-encoding
)
_SPACED = re.compile(r"(?<![^\W_])(?:[^\W\d_][ ._*-]){2,}[^\W\d_](?![^\W_])")
_LEET_WORD = re.compile(r"(?<![\w@$])[\w@$]*(?:[A-Za-z][0134578@$]|[0134578@$][A-Za-z])[\w@$]*")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![\w\\])(?:(?:\\x|0x)?[0-9A-Fa-f]{2}[ :]?){8,}(?!\w)")
_URL = re.compile(r"[^\s%]*(?:%[0-9A-Fa-f]{2}[^\s%]*){3,}")
# A decoded segment counts when it is readable text: printable and mostly letters and spaces.
_MIN_LETTER_SHARE = 0.7
# Larger texts are still scanned as they are, just not re-read (keeps a pasted book cheap).
MAX_LENGTH = 200_000


class View(NamedTuple):
    text: str
    starts: list[int]  # original offset of each character's first source character
    ends: list[int]  # original offset just past its last source character
    squashed: bool = False  # spaced letters were joined: words may run together

    def span(self, span: Span) -> Span:
        return Span(self.starts[span.start], self.ends[span.end - 1], span.label)


def may_differ(text: str) -> bool:
    return not text.isascii() or _ASCII_SUSPECT.search(text) is not None


def _fold(text: str, starts: list[int], ends: list[int]) -> View:
    """NFKC, invisible characters dropped, look-alikes folded; offsets carried through."""
    out: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    for char, start, end in zip(text, starts, ends, strict=True):
        if char in _INVISIBLE:
            continue
        folded = unicodedata.normalize("NFKC", char) if not char.isascii() else char
        for piece in folded:
            if piece in _INVISIBLE:
                continue
            out.append(_CONFUSABLES.get(piece, piece))
            new_starts.append(start)
            new_ends.append(end)
    return View("".join(out), new_starts, new_ends)


def _words(view: View) -> View:
    """Leet digits inside words as letters, then s p a c e d letters joined."""
    chars = list(view.text)
    for match in _LEET_WORD.finditer(view.text):
        if any(c.isalpha() for c in match.group()):
            for index in range(match.start(), match.end()):
                chars[index] = _LEET.get(chars[index], chars[index])
    text = "".join(chars)
    keep = [True] * len(text)
    squashed = False
    for match in _SPACED.finditer(text):
        squashed = True
        for index in range(match.start() + 1, match.end(), 2):
            keep[index] = False
    if not squashed:
        return View(text, view.starts, view.ends)
    return View(
        "".join(c for c, k in zip(text, keep, strict=True) if k),
        [s for s, k in zip(view.starts, keep, strict=True) if k],
        [e for e, k in zip(view.ends, keep, strict=True) if k],
        squashed=True,
    )


def _readable(decoded: str) -> bool:
    if len(decoded) < 4 or not decoded.isprintable() and not decoded.replace("\n", " ").isprintable():
        return False
    letters = sum(1 for c in decoded if c.isalpha() or c.isspace())
    return letters >= _MIN_LETTER_SHARE * len(decoded)


def _decode_base64(segment: str) -> str | None:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _decode_hex(segment: str) -> str | None:
    digits = re.sub(r"\\x|0x|[ :]", "", segment)
    try:
        return bytes.fromhex(digits).decode("utf-8")
    except ValueError:
        return None


_DECODERS: list[tuple[re.Pattern[str], Callable[[str], str | None]]] = [
    (_HEX, _decode_hex),
    (_BASE64, _decode_base64),
    (_URL, lambda segment: unquote(segment, errors="strict")),
]


def _decoded(text: str, origin: View) -> list[View]:
    """Readings of each encoded segment of ``text`` that decodes to readable text."""
    found: list[View] = []
    taken: list[tuple[int, int]] = []
    for pattern, decode in _DECODERS:
        for match in pattern.finditer(text):
            if any(s < match.end() and match.start() < e for s, e in taken):
                continue
            try:
                decoded = decode(match.group())
            except (UnicodeDecodeError, ValueError):
                decoded = None
            if decoded is None or not _readable(decoded) or decoded == match.group():
                continue
            taken.append((match.start(), match.end()))
            start, end = origin.starts[match.start()], origin.ends[match.end() - 1]
            found.append(View(decoded, [start] * len(decoded), [end] * len(decoded)))
    return found


@lru_cache(maxsize=128)  # a request's messages, read by every detector in turn
def views(text: str, *, words: bool) -> tuple[View, ...]:
    """The other readings of ``text`` (none when it reads the same every way)."""
    if not text or len(text) > MAX_LENGTH or not may_differ(text):
        return ()
    offsets = list(range(len(text)))
    base = _fold(text, offsets, [o + 1 for o in offsets])
    found: list[View] = []
    if base.text != text:
        found.append(base)
    if words:
        worded = _words(base)
        if worded.text != base.text:
            found.append(worded)
    for raw in _decoded(base.text, base):
        decoded = _fold(raw.text, raw.starts, raw.ends)
        found.append(decoded)
        if words:
            worded = _words(decoded)
            if worded.text != decoded.text:
                found.append(worded)
    return tuple(found)


def normalised_find(
    find: Callable[[str], list[Span]],
    text: str,
    *,
    words: bool = False,
    squashed_find: Callable[[str], list[Span]] | None = None,
) -> list[Span]:
    """``find`` over ``text`` and over each reading of it; spans point into ``text``."""
    spans = find(text)
    for view in views(text, words=words):
        finder = squashed_find if view.squashed and squashed_find is not None else find
        spans.extend(view.span(span) for span in finder(view.text))
        if view.squashed and finder is not find:
            spans.extend(view.span(span) for span in find(view.text))
    return spans_merge(sorted(set(spans), key=lambda s: (s.start, s.end, s.label)))
