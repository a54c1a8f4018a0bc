"""The text of an imported file, row by row: its encoding, bytes that are not text, rows too large.

* Encoding: a byte-order mark decides (UTF-8, UTF-16 LE or BE); without one, UTF-16 is recognised
  by the zero bytes of ASCII text, and anything else is read as UTF-8. ``--encoding NAME`` (any
  Python codec: ``latin-1``, ``cp1252``...) is for files known to be in another one. A ``.gz`` of
  any of them works too (the mark is looked for in the decompressed bytes).
* Bytes that are not valid in the encoding are never replaced: they are decoded to the lone
  surrogates U+DC00..U+DCFF (one per byte, like Python's ``surrogateescape``), so the row that
  holds them is rejected as "invalid UTF-8 bytes" with the bytes shown as ``\\xNN``, and the rest
  of the file is read as usual.
* A row longer than ``INGEST_MAX_ROW_SIZE`` characters (in any format) is not kept in memory nor
  stored: it is rejected with its size, and only its head is kept for the rejected row.
* A row cut by the end of the file (a truncated export) is rejected as such.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from .cells import Rejection

_BAD_BYTES = "aoai-bad-bytes"
BAD = re.compile("[\udc00-\udcff]")
TRUNCATED = "truncated row at end of file"
TOO_LARGE = "row too large"
HEAD_KEPT = 4000  # characters of an oversized row kept in its RejectedRow
_SKIP_CHUNK = 1 << 20
_NEWLINES = ("\n", "\r")


class FileFormatError(Exception):
    """The file (or what follows a point in it) cannot be read as any supported format."""


def row_too_large(where: str, size: int, limit: int) -> Rejection:
    return Rejection(TOO_LARGE, f"{where}: {size:,} characters (the limit is {limit:,})")


def raw_kept(text: str) -> str:
    """What a RejectedRow keeps of a refused row's text (bad bytes shown, at most 100,000 characters)."""
    return head_kept(text, len(text)) if len(text) > 100_000 else bytes_shown(text)


def _bytes_escape(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "".join(chr(0xDC00 + byte) for byte in error.object[error.start : error.end]), error.end


codecs.register_error(_BAD_BYTES, _bytes_escape)


def bytes_shown(text: str) -> str:
    """``text`` with the bytes that were not text written as ``\\xNN``."""
    return BAD.sub(lambda match: f"\\x{ord(match.group()) - 0xDC00:02x}", text)


def head_kept(text: str, size: int) -> str:
    """What a RejectedRow keeps of an oversized row: its head and its size."""
    return bytes_shown(text[:HEAD_KEPT]) + f"\u2026 [{size:,} characters in all; the rest not kept]"


def binary_open(path: Path) -> IO[bytes]:
    stream = path.open("rb")
    if stream.read(2) == b"\x1f\x8b":
        stream.close()
        return cast(IO[bytes], gzip.open(path, "rb"))
    stream.seek(0)
    return stream


def encoding_detect(head: bytes) -> tuple[str, str]:
    """(Python codec, name shown) of a file starting with ``head`` (its first bytes)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "UTF-8"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "UTF-16"  # the codec reads the mark and the byte order from it
    if len(head) >= 4 and head[0] and not head[1] and head[2] and not head[3]:
        return "utf-16-le", "UTF-16"
    if len(head) >= 4 and not head[0] and head[1] and not head[2] and head[3]:
        return "utf-16-be", "UTF-16"
    return "utf-8", "UTF-8"


def text_open(path: Path, *, encoding: str | None = None) -> tuple[IO[str], str]:
    """The file as text (``newline=""``: the CSV and JSON-lines readers see line ends as they
    are) and the encoding's name; invalid bytes become U+DC00 + byte (see the module docstring)."""
    if encoding:
        codec = codecs.lookup(encoding).name  # LookupError for an unknown name
        name = encoding
        if codec == "utf-8":
            codec = "utf-8-sig"  # a mark at the start is not data
    else:
        with binary_open(path) as probe:
            codec, name = encoding_detect(probe.read(4))
    return io.TextIOWrapper(binary_open(path), encoding=codec, errors=_BAD_BYTES, newline=""), name


def lines_read(stream: IO[str], *, limit: int) -> Iterator[tuple[int, str, int]]:
    """(line number, line, size) per line; a line longer than ``limit`` is read through without
    being kept: its head is given and its size is > 0 (0 for the others)."""
    number = 0
    while line := stream.readline(limit + 1):
        number += 1
        if len(line) <= limit or line.endswith(_NEWLINES):
            yield number, line, 0
            continue
        size = len(line)
        while more := stream.readline(_SKIP_CHUNK):
            size += len(more)
            if more.endswith(_NEWLINES):
                break
        yield number, line[:HEAD_KEPT], size


def csv_records(stream: IO[str], *, limit: int) -> Iterator[tuple[int, str, int, bool]]:
    """(first line number, record text, size, ended) per CSV record: a record goes on over line
    ends while a quoted field is open (an odd number of quotes so far). ``size`` > 0 marks a record
    longer than ``limit``, given by its head. ``ended`` is False for the last record when the file
    stops inside it (no line end, or an open quoted field)."""
    number = 0
    while line := stream.readline(limit + 1):
        number += 1
        first, parts, size, quotes = number, [line], len(line), line.count('"')
        while not (line.endswith(_NEWLINES) and quotes % 2 == 0):
            previous_ended = line.endswith(_NEWLINES)
            line = stream.readline(limit + 1 if size <= limit else _SKIP_CHUNK)
            if not line:
                break
            number += previous_ended
            size += len(line)
            quotes += line.count('"')
            if size <= limit:
                parts.append(line)
            elif sum(map(len, parts)) < HEAD_KEPT:
                parts.append(line[:HEAD_KEPT])
        ended = line.endswith(_NEWLINES) and quotes % 2 == 0
        text = "".join(parts)
        yield first, text if size <= limit else text[:HEAD_KEPT], size if size > limit else 0, ended
