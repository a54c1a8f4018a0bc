"""JSON fast paths, with the values and errors of ``json``: decoding (``json_decode``, and
``json_loads``, each text once inside ``json_shared()``) and encoding (``json_dumps``).

``json_loads``: ``json.loads`` shared by the refresh steps of one batch, so each body is decoded
once.

``usage_refresh`` (``usage.accounting.parse``) and ``flags_evaluate`` (``audit.conversation``) both
decode every request's bodies and SSE lines. Inside ``json_shared()`` (``requests_refresh`` opens one
per chunk of requests) a text decoded before is a dict lookup; outside it ``json_loads`` is
``json_decode``. What it returns may be handed to the next caller with the same text, so callers
must not mutate it (none does: both only read the documents).

Decoding goes through msgspec's decoder, faster than ``json.loads`` on bodies and SSE lines.
It gives the same values where it decodes
(tested); what it refuses (NaN, a lone surrogate escape, a number past a float's range) goes to
``json.loads``, which decodes it as before or raises the error callers expect. A document that
ends inside a value is refused at once (a ``json.JSONDecodeError`` at its end).

``json_dumps``: ``json.dumps`` for the JSON columns the ingestion writes per row, without its
per-call set-up.

Each ``json.dumps`` call builds a new C encoder (``JSONEncoder.iterencode``); for the small
documents of a log row (headers, a content-filter record, native ``properties``) that set-up is
about as long as the encoding itself. ``json_dumps`` builds the encoder once and gives exactly the
text ``json.dumps(value, ensure_ascii=...)`` gives (tested), default separators and all, and
the same errors too: a value that refers to itself is only found out by a ``RecursionError``, and
then ``json.dumps`` says what it says (``ValueError``: circular reference).
"""

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from json import encoder
from typing import Any

import msgspec

_memo: ContextVar[dict[Any, Any] | None] = ContextVar("json_memo", default=None)
_MISSING = object()


class _Failure:
    """A remembered decode error: its message and position only. Keeping the error itself would
    keep its traceback, whose frame holds the memo: a cycle that keeps every body decoded in the
    block alive until the cycle collector runs."""

    __slots__ = ("msg", "pos")

    def __init__(self, error: json.JSONDecodeError) -> None:
        self.msg, self.pos = error.msg, error.pos


_DECODER = msgspec.json.Decoder()
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB]").search


def json_decode(text: str | bytes) -> Any:
    """``json.loads(text)``, faster: the same value, or a ``ValueError`` where it raises one."""
    try:
        return _DECODER.decode(text)
    except (msgspec.MsgspecError, RecursionError, UnicodeError) as error:  # Unicode: a lone surrogate
        if isinstance(text, str) and str(error) == "Input data was truncated" and not _SURROGATE_ESCAPE(text):
            # It ends inside a value (a body cut at 8,192 bytes): json.loads refuses it too, and
            # would take as long again to say so. (msgspec says "truncated" of a lone surrogate
            # escape too, which json.loads decodes; another wording only falls back.)
            raise json.JSONDecodeError("Unterminated JSON document", text, len(text)) from None
        return json.loads(text)


def json_loads(text: str | bytes) -> Any:
    """``json_decode(text)``; remembered inside ``json_shared()`` (a failure too: cut bodies)."""
    memo = _memo.get()
    if memo is None:
        return json_decode(text)
    found = memo.get(text, _MISSING)
    if found is _MISSING:
        try:
            found = json_decode(text)
        except json.JSONDecodeError as error:
            memo[text] = _Failure(error)
            raise
        memo[text] = found
        return found
    if isinstance(found, _Failure):
        # JSONDecodeError counts lines in a str: bytes are decoded as json.loads decodes them.
        document = text if isinstance(text, str) else text.decode("utf-8", "replace")
        raise json.JSONDecodeError(found.msg, document, found.pos)
    return found


@contextmanager
def json_shared() -> Iterator[None]:
    """Remember decoded texts until the block ends (bounded by what the block decodes)."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def _dumps_built_once(*, ensure_ascii: bool) -> Callable[[Any], str]:
    plain = json.JSONEncoder(ensure_ascii=ensure_ascii)
    # typeshed does not declare json.encoder.c_make_encoder (the C accelerator, or None).
    if encoder.c_make_encoder is None:  # type: ignore[attr-defined]  # no C accelerator: what json.dumps does
        return plain.encode
    # The arguments JSONEncoder.iterencode gives the C encoder for ``plain``.
    iterencode = encoder.c_make_encoder(  # type: ignore[attr-defined]  # see above
        None,  # markers: no circular check (a marker left by an error would stay for good)
        plain.default,
        encoder.encode_basestring_ascii if ensure_ascii else encoder.encode_basestring,
        plain.indent,
        plain.key_separator,
        plain.item_separator,
        plain.sort_keys,
        plain.skipkeys,
        plain.allow_nan,
    )

    def dumps(value: Any) -> str:
        try:
            return "".join(iterencode(value, 0))
        except RecursionError:
            return plain.encode(value)  # circular: ValueError; just deep: RecursionError again

    return dumps


_DUMPS_ASCII = _dumps_built_once(ensure_ascii=True)
_DUMPS_UNICODE = _dumps_built_once(ensure_ascii=False)


def json_dumps(value: Any, *, ensure_ascii: bool = True) -> str:
    """``json.dumps(value, ensure_ascii=ensure_ascii)``, cheaper per call."""
    return _DUMPS_ASCII(value) if ensure_ascii else _DUMPS_UNICODE(value)


# A NUL character in JSON text: ``\u0000`` preceded by an even number of backslashes (an odd number
# makes it the text "\u0000", a backslash and five characters, which is kept).
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def json_nul_escapes_drop(text: str) -> str:
    """JSON text without its NUL characters (PostgreSQL stores none): parsed, it gives the same
    value with every NUL removed from its strings."""
    if "\\u0000" not in text:
        return text
    return _NUL_ESCAPE.sub(r"\1", text)
