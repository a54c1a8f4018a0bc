"""Pure parsers: one Log Analytics row in, one normalized record (or a rejection) out.

One parser per table:

* ``gateway_row_parse``  ApiManagementGatewayLogs   -> ``GatewayRow``  (-> ``GatewayRequest``)
* ``native_row_parse``   AzureDiagnostics           -> ``NativeRow``   (-> ``NativeLog``)
* ``llm_row_parse``      ApiManagementGatewayLlmLog -> ``LlmChunkRow`` (-> ``LlmLogChunk``)

Each table's record and parser live in a module of their own (``rows_gateway``, ``rows_native``,
``rows_llm``); this one guards the parsers (``_guard``: a row that is not an object, or an error no
check foresaw, becomes a ``Rejection``) and names them by table (``PARSERS``). The rest of the
code imports the parsers and records from here.

A row is a mapping of column name to value as Log Analytics gives it: strings, numbers, ISO
datetimes (or ``datetime`` objects from the SDK), and ``dynamic`` cells either as JSON text or as
already-decoded objects. Column names are matched exactly first, then case-insensitively; missing
columns are tolerated (older workspaces lack some). Nothing here raises on bad input or touches
the database:

* a row whose key cannot be used (time missing, unreadable or outside ``TIME_MIN`` .. now +
  ``TIME_AHEAD``; correlation id missing, too long, not text or holding a lone surrogate) is
  returned as a ``Rejection`` whose ``reason`` says why;
* any other value that cannot be used (not a number, NaN, Infinity, negative where a duration or
  size is meant, out of its column's range, not a boolean, not JSON) leaves its field empty and
  adds a note ("TotalTime: not finite (inf)") to the record's ``ingest_notes``: the row is kept.
  Lone surrogates in long texts are found when the database refuses them (``store.py`` then runs
  ``sanitize.record_sanitize``), not by scanning every body here.

Diagnostic-settings records (what a Storage account or Event Hub receives: lower-camel keys,
``properties`` as an object or JSON text) are first mapped to the Log Analytics shape by
``diagnostic.diagnostic_record_convert`` and then go through the same parsers. The cells of a row
are read by ``cells`` (which also holds ``Rejection`` and ``datetime_parse``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .cells import Rejection, _Bad, _show
from .rows_gateway import GatewayRow, _parse_gateway, headers_normalize, url_deployment_and_version
from .rows_llm import LlmChunkRow, _parse_llm
from .rows_native import NativeRow, _parse_native
from .tables import GATEWAY, LLM_LOG, NATIVE

__all__ = [
    "PARSERS",
    "GatewayRow",
    "LlmChunkRow",
    "NativeRow",
    "gateway_row_parse",
    "headers_normalize",
    "llm_row_parse",
    "native_row_parse",
    "url_deployment_and_version",
]


def _guard(parse: Callable[[Mapping[str, Any]], Any], row: Any) -> Any:
    if not isinstance(row, Mapping):
        return Rejection("row is not an object", _show(row))
    try:
        return parse(row)
    except _Bad as bad:
        return bad.rejection
    except Exception as error:  # defensive: a value no check above foresaw
        return Rejection("unreadable row", _show(f"{type(error).__name__}: {error}", 200))


def gateway_row_parse(row: Mapping[str, Any]) -> GatewayRow | Rejection:
    """One ApiManagementGatewayLogs row -> ``GatewayRow``, or a ``Rejection``."""
    return _guard(_parse_gateway, row)


def native_row_parse(row: Mapping[str, Any]) -> NativeRow | Rejection:
    """One AzureDiagnostics row (Azure OpenAI, RequestResponse) -> ``NativeRow``, or a ``Rejection``."""
    return _guard(_parse_native, row)


def llm_row_parse(row: Mapping[str, Any]) -> LlmChunkRow | Rejection:
    """One ApiManagementGatewayLlmLog row -> ``LlmChunkRow``, or a ``Rejection``."""
    return _guard(_parse_llm, row)


PARSERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    GATEWAY: gateway_row_parse,
    NATIVE: native_row_parse,
    LLM_LOG: llm_row_parse,
}
