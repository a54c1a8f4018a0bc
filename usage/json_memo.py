"""``json.loads`` shared by the refresh steps of one batch, so each body is decoded once.

``usage_refresh`` (``usage.accounting.parse``) and ``flags_evaluate`` (``audit.conversation``) both
decode every request's bodies and SSE lines. Inside ``json_shared()`` (``requests_refresh`` opens one
per chunk of requests) a text decoded before is a dict lookup; outside it ``json_loads`` is
``json.loads``. What it returns may be handed to the next caller with the same text, so callers
must not mutate it (none does: both only read the documents).
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_memo: ContextVar[dict[Any, Any] | None] = ContextVar("json_memo", default=None)
_MISSING = object()


class _Failure:
    """A remembered decode error: its message and position only. Keeping the error itself would
    keep its traceback, whose frame holds the memo: a cycle that keeps every body decoded in the
    block alive until the cycle collector runs."""

    __slots__ = ("msg", "pos")

    def __init__(self, error: json.JSONDecodeError) -> None:
        self.msg, self.pos = error.msg, error.pos


def json_loads(text: str | bytes) -> Any:
    """``json.loads(text)``; remembered inside ``json_shared()`` (a failure too: cut bodies)."""
    memo = _memo.get()
    if memo is None:
        return json.loads(text)
    found = memo.get(text, _MISSING)
    if found is _MISSING:
        try:
            found = json.loads(text)
        except json.JSONDecodeError as error:
            memo[text] = _Failure(error)
            raise
        memo[text] = found
        return found
    if isinstance(found, _Failure):
        raise json.JSONDecodeError(found.msg, text, found.pos)
    return found


@contextmanager
def json_shared() -> Iterator[None]:
    """Remember decoded texts until the block ends (bounded by what the block decodes)."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)
