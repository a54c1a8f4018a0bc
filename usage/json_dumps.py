"""``json.dumps`` for the JSON columns the ingestion writes per row, without its per-call set-up.

Each ``json.dumps`` call builds a new C encoder (``JSONEncoder.iterencode``); for the small
documents of a log row (headers, a content-filter record, native ``properties``) that set-up is
about as long as the encoding itself. ``json_dumps`` builds the encoder once and gives exactly the
text ``json.dumps(value, ensure_ascii=...)`` gives (tested), default separators and all, and
the same errors too: a value that refers to itself is only found out by a ``RecursionError``, and
then ``json.dumps`` says what it says (``ValueError``: circular reference).
"""

import json
import re
from collections.abc import Callable
from json import encoder
from typing import Any


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
