"""A JSON array (``az-json``, ``{"records": [...]}``) read one value at a time from a text stream,
without reading the whole stream; rows that are too large, hold bytes that are not text or are cut
by the end of the file come out as ``Refused`` (see ``file_text``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from .cells import Rejection
from .file_text import (
    BAD,
    HEAD_KEPT,
    TRUNCATED,
    FileFormatError,
    bytes_shown,
    head_kept,
    raw_kept,
    row_too_large,
)

_READ_CHUNK = 1 << 20
_NON_SPACE = re.compile(r"\S")


def bad_bytes(encoding: str, where: str) -> Rejection:
    hint = "; import the file with --encoding NAME (e.g. latin-1) if it is not " + encoding
    return Rejection(f"invalid {encoding} bytes", where + hint)


@dataclass
class Refused:
    """A row read but not routed: why, and the text kept for its RejectedRow."""

    rejection: Rejection
    raw: str


_JSON_SPECIAL = re.compile(r'["\\\[\]{}]')
_STRING_SPECIAL = re.compile(r'["\\]')


class JsonStream:
    """Reads JSON values one at a time from a text stream, without reading the whole stream."""

    def __init__(self, stream: IO[str], *, limit: int = 16 << 20, encoding: str = "UTF-8") -> None:
        self.stream = stream
        self.limit = limit
        self.encoding = encoding
        self.buf = ""
        self.pos = 0
        self.consumed = 0  # characters before buf[0]
        self.eof = False
        self.decoder = json.JSONDecoder()

    def bad_bytes(self, where: str) -> Rejection:
        return bad_bytes(self.encoding, where)

    def _fill(self) -> bool:
        chunk = self.stream.read(_READ_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.consumed += self.pos
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        return True

    def peek(self) -> str | None:
        while True:
            match = _NON_SPACE.search(self.buf, self.pos)
            if match:
                self.pos = match.start()
                return self.buf[self.pos]
            self.pos = len(self.buf)
            if not self._fill():
                return None

    def skip(self, pattern: re.Pattern[str]) -> None:
        self.peek()
        match = pattern.match(self.buf, self.pos)
        if match:
            self.pos = match.end()

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise FileFormatError(
                f"expected {char!r} at character {self.consumed + self.pos}, found {found!r}"
            )
        self.pos += 1

    def value(self) -> Any:
        """The next JSON value, or a ``Refused`` row: too large, with bytes that are not text, or
        cut by the end of the file."""
        self.peek()  # raw_decode does not skip leading whitespace
        at = self.consumed + self.pos
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as error:
                if len(self.buf) - self.pos > self.limit:
                    return self._oversized_skip(at)
                if not self.eof and self._fill():
                    continue
                rest = self.buf[self.pos :]
                if error.msg.startswith("Unterminated string") or error.pos >= len(self.buf.rstrip()):
                    self.pos = len(self.buf)
                    return Refused(Rejection(TRUNCATED, f"row at character {at:,}"), raw_kept(rest))
                raise FileFormatError(
                    f"invalid JSON at character {self.consumed + error.pos}: {error.msg}"
                ) from None
            if len(self.buf) - end < 64 and not self.eof and self._fill():
                continue  # a number near the end may go on in the next chunk: decode again
            start, self.pos = self.pos, end
            if end - start > self.limit:
                return Refused(
                    row_too_large(f"row at character {at:,}", end - start, self.limit),
                    head_kept(self.buf[start:end], end - start),
                )
            if BAD.search(self.buf, start, end):
                return Refused(self.bad_bytes(f"row at character {at:,}"), bytes_shown(self.buf[start:end]))
            return value

    def _oversized_skip(self, at: int) -> Refused:
        """Read through a value longer than the limit without keeping it (strings, escapes and
        nesting followed by hand); leaves ``pos`` after it."""
        head = self.buf[self.pos : self.pos + HEAD_KEPT]
        if head[:1] not in ("{", "[", '"'):
            raise FileFormatError(
                f"invalid JSON at character {at}: a value larger than {self.limit:,} characters"
            )
        start_abs = self.consumed + self.pos
        depth, in_string, escaped, i = 0, False, False, self.pos
        while True:
            buf = self.buf
            if escaped and i < len(buf):
                i, escaped = i + 1, False
            while not escaped:
                match = (_STRING_SPECIAL if in_string else _JSON_SPECIAL).search(buf, i)
                if match is None:
                    i = len(buf)
                    break
                char, i = match.group(), match.end()
                if char == "\\":
                    if i < len(buf):
                        i += 1
                    else:
                        escaped = True
                elif char == '"':
                    in_string = not in_string
                elif char in "[{":
                    depth += 1
                else:
                    depth -= 1
                if depth == 0 and not in_string and not escaped:
                    self.pos = i
                    size = self.consumed + i - start_abs
                    return Refused(
                        row_too_large(f"row at character {at:,}", size, self.limit), head_kept(head, size)
                    )
            self.pos = len(buf)
            filled = self._fill()
            i = self.pos
            if not filled:
                size = self.consumed + self.pos - start_abs
                return Refused(
                    row_too_large(f"row at character {at:,}, cut by the end of the file", size, self.limit),
                    head_kept(head, size),
                )

    def array_items(self) -> Iterator[Any]:
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield self.value()
            found = self.peek()
            if found == ",":
                self.pos += 1
            elif found == "]":
                self.pos += 1
                return
            elif found is None:
                raise FileFormatError("truncated: the file ends before the JSON array is closed")
            else:
                raise FileFormatError(
                    f"expected ',' or ']' at character {self.consumed + self.pos}, found {found!r}"
                )
