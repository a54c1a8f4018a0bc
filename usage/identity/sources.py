"""Who called: the caller's Entra id of one request, from the sources the logs offer, in order.

1. A logged request header carrying the caller's id, which an APIM policy sets from the validated
   token (docs/identity.md): first on the backend request (``header-backend``: APIM set it, a
   client cannot), then on the frontend request (``header-frontend``). ``oid`` headers come
   before ``appid`` headers (``PORTAL_IDENTITY_HEADERS``).
2. The native log's ``objectId`` (``native``), unless it is a gateway identity: with APIM calling
   Azure OpenAI through its managed identity, that id is APIM's on every request.
3. APIM's ``UserId`` (``apim-user``) when it names a developer-portal user: not empty, not the
   built-in administrator (``1``, ``administrator``).

Nothing else: a request none of them names has no caller (``""``). Pure functions; the stored
rows are read and written by ``usage.identity.services``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

HEADER_BACKEND = "header-backend"
HEADER_FRONTEND = "header-frontend"
# A logged header of a request stored before the portal told the two requests apart, or found
# under a header name configured since: which request carried it is not known.
HEADER = "header"
NATIVE = "native"
APIM_USER = "apim-user"
HEADER_SOURCES = (HEADER_BACKEND, HEADER_FRONTEND, HEADER)
SOURCE_LABELS = {
    HEADER_BACKEND: "Header on the backend request (set by the APIM policy)",
    HEADER_FRONTEND: "Header on the frontend request",
    HEADER: "Logged request header",
    NATIVE: "Azure OpenAI log objectId",
    APIM_USER: "APIM developer-portal user",
    "": "No source names the caller",
}

# APIM's built-in administrator owns the subscriptions nobody else does: not a person.
_NOT_PEOPLE = {"", "1", "administrator", "admin"}
# Longest id kept (GatewayRequest.caller_object_id).
MAX_LENGTH = 128


@dataclass(frozen=True)
class Caller:
    object_id: str = ""
    source: str = ""


NOBODY = Caller()


def identity_header_names() -> tuple[str, ...]:
    """The header names to read, lower-case, ``oid`` ones first (``PORTAL_IDENTITY_HEADERS``)."""
    return _names(tuple(settings.PORTAL_IDENTITY_HEADERS))


@lru_cache(maxsize=8)  # read for every parsed row
def _names(pairs: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    ordered = [name for kind, name in pairs if kind.lower() == "oid"]
    ordered += [name for kind, name in pairs if kind.lower() != "oid"]
    return tuple(dict.fromkeys(name.strip().lower() for name in ordered if name.strip()))


def _clean(value: object) -> str:
    """An id as stored: trimmed, lower-case (Entra ids are GUIDs; case must not split a person)."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_LENGTH or not text.isprintable():
        return ""
    return text.lower()


def header_value(headers: Mapping[str, str], names: Sequence[str]) -> str:
    """The first non-empty id among ``names`` in ``headers`` (lower-case names), or ""."""
    for name in names:
        value = _clean(headers.get(name, ""))
        if value:
            return value
    return ""


def caller_from_headers(
    *, backend: Mapping[str, str], frontend: Mapping[str, str], names: Sequence[str]
) -> Caller:
    """Source 1 at ingestion, where the backend and frontend request headers are still apart."""
    value = header_value(backend, names)
    if value:
        return Caller(value, HEADER_BACKEND)
    value = header_value(frontend, names)
    if value:
        return Caller(value, HEADER_FRONTEND)
    return NOBODY


def apim_user_is_person(user_id: str) -> bool:
    return user_id.strip().lower() not in _NOT_PEOPLE


def caller_resolve(
    *,
    headers: Mapping[str, str],
    names: Sequence[str],
    native_object_id: str,
    user_id: str,
    gateway_ids: Collection[str],
    stored: Caller = NOBODY,
) -> Caller:
    """The caller of a stored request, in the order above.

    ``headers`` are the request's stored headers (backend and frontend merged, the backend's
    identity headers winning: ``usage.ingestion.rows_gateway``); ``stored`` is what was stored
    before, whose header source is kept while it names the same id (the merged headers no longer
    say which request carried it). ``gateway_ids`` lower-case.
    """
    value = header_value(headers, names)
    if value:
        if stored.source in HEADER_SOURCES and stored.object_id == value:
            return stored
        return Caller(value, HEADER)
    native = _clean(native_object_id)
    if native and native not in gateway_ids:
        return Caller(native, NATIVE)
    if apim_user_is_person(user_id) and _clean(user_id):
        return Caller(_clean(user_id), APIM_USER)
    return NOBODY
