"""``json.loads`` shared by the refresh steps of one batch, so each body is decoded once.

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
"""

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
