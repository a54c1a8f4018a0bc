"""What the detectors' pre-checks read, worked out once per message for all of them.

``flags_evaluate`` runs every detector over every message; most messages have no digit, no "@",
nothing key-like and no jailbreak word, so it asks ``TextDetector.may_find`` before ``find``. Each
trait is True whenever the detectors that read it could find something (never a skipped finding).
"""

from typing import NamedTuple

from .injection import anchor_present
from .jailbreak import WORD_BYTES, required_word_present, text_words
from .normalise import may_differ
from .pii import has_digit
from .secrets import key_like


class TextTraits(NamedTuple):  # a tuple: built for every message, and cheaper than a frozen dataclass
    digit: bool  # a \d: phone, card, IBAN, SSN (and national ids whose patterns need one)
    at: bool  # an "@": e-mail
    key_like: bool  # a key prefix or a long run of key characters: secrets
    jailbreak_word: bool  # a word every jailbreak phrase has, or an anchor of the injection families
    readings: bool  # a normalised reading may differ (non-ASCII, leet, spaced, encoded): run all


ALL = TextTraits(digit=True, at=True, key_like=True, jailbreak_word=True, readings=True)


def text_traits(text: str) -> TextTraits:
    if not text.isascii():  # Unicode digits: has_digit's regex; keys: key_like's own test
        return TextTraits(
            digit=has_digit(text),
            at="@" in text,
            key_like=key_like(text),
            jailbreak_word=required_word_present(text_words(text)) or anchor_present(text),
            readings=True,
        )
    raw = text.encode("ascii")
    words = raw.translate(WORD_BYTES)  # one translation serves the digit and the word tests
    return TextTraits(
        digit=b"0" in words,
        at="@" in text,
        key_like=key_like(text, raw),
        jailbreak_word=required_word_present(words) or anchor_present(text),
        readings=may_differ(text),
    )
