"""Names from Microsoft Graph: the object ids seen in requests that the People table cannot name.

An hourly Celery task (``usage.people_graph_refresh``), never part of ingestion. The app
registration of ``PORTAL_GRAPH_*`` gets a token with the client-credentials grant (``msal``), then
asks Graph in JSON batches of at most 20 requests: ``/users/{id}``, for the ids not found there
``/servicePrincipals/{id}``, then ``/servicePrincipals(appId='{id}')`` (a caller header may carry
an application's client id rather than its object id). Needs User.Read.All and Application.Read.All.

Every id asked is stamped ``graph_checked_at``, found or not, and is not asked again for
``PORTAL_GRAPH_REFRESH_DAYS``; ids Graph did not answer (throttled past our patience, errors) are
left for the next run. 429 answers, of the whole batch or of one request in it, are retried after
their ``Retry-After``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msal  # type: ignore[import-untyped]  # msal ships no type information
import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from ..models import NamedIdentity
from .selectors import people_graph_due, people_ids_seen
from .services import person_observe

log = logging.getLogger(__name__)

BATCH_SIZE = 20  # Graph's limit of requests per JSON batch
LOOKBACK = timedelta(days=35)  # ids seen in requests of about the last month
HTTP_TIMEOUT_SECONDS = 30
MAX_ATTEMPTS = 5  # per batch, and per throttled request in it
MAX_WAIT_SECONDS = 120.0  # a longer Retry-After ends the run; the next run carries on
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)

Sleep = Callable[[float], None]


class NotConfigured(ImproperlyConfigured):
    pass


class GraphError(Exception):
    """Graph or its token endpoint could not be used (credentials, permissions, network)."""


class GraphThrottled(GraphError):
    """Graph kept answering 429, or asked to wait longer than MAX_WAIT_SECONDS."""


@dataclass(frozen=True)
class GraphConfig:
    tenant_id: str
    client_id: str
    client_secret: str
    authority: str
    base_url: str
    ca_bundle: str

    @property
    def verify(self) -> str | bool:
        return self.ca_bundle or True


def graph_config() -> GraphConfig:
    """The Graph settings; ``NotConfigured`` when PORTAL_GRAPH_CLIENT_ID (or what it needs) is unset."""
    if not settings.PORTAL_GRAPH_CLIENT_ID:
        raise NotConfigured("PORTAL_GRAPH_CLIENT_ID is not set")
    tenant = settings.PORTAL_GRAPH_TENANT_ID or settings.ENTRA_TENANT_ID
    if not tenant or not settings.PORTAL_GRAPH_CLIENT_SECRET:
        raise NotConfigured("PORTAL_GRAPH_CLIENT_SECRET and a tenant (PORTAL_GRAPH_TENANT_ID) are needed")
    return GraphConfig(
        tenant_id=tenant,
        client_id=settings.PORTAL_GRAPH_CLIENT_ID,
        client_secret=settings.PORTAL_GRAPH_CLIENT_SECRET,
        authority=(settings.PORTAL_GRAPH_AUTHORITY or settings.ENTRA_AUTHORITY).rstrip("/"),
        base_url=settings.PORTAL_GRAPH_BASE_URL.rstrip("/"),
        ca_bundle=settings.PORTAL_GRAPH_CA_BUNDLE,
    )


def _retry_after(headers: dict[str, Any]) -> float:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(float(value), 0.0)
            except (TypeError, ValueError):
                break
    return 5.0


class _Session(requests.Session):
    """A session whose CA bundle holds per request: requests lets REQUESTS_CA_BUNDLE override a
    session's ``verify``, and msal would otherwise set only that."""

    def __init__(self, *, verify: str | bool) -> None:
        super().__init__()
        self.verify = verify

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("verify", self.verify)
        kwargs.setdefault("timeout", HTTP_TIMEOUT_SECONDS)
        verb = method.decode() if isinstance(method, bytes) else method
        return super().request(verb, url, *args, **kwargs)


class GraphClient:
    """Client-credentials token (msal, cached for its lifetime) and Graph JSON batches (requests)."""

    def __init__(self, config: GraphConfig, *, sleep: Sleep = time.sleep) -> None:
        self.config = config
        self._sleep = sleep
        self._session = _Session(verify=config.verify)
        try:
            self._app = msal.ConfidentialClientApplication(
                config.client_id,
                client_credential=config.client_secret,
                authority=f"{config.authority}/{config.tenant_id}",
                instance_discovery=False,  # the authority is ours to choose (sovereign clouds, tests)
                http_client=self._session,
            )
        except (ValueError, requests.RequestException) as exc:
            raise GraphError(f"authority {config.authority}: {exc}") from exc

    def _token(self) -> str:
        try:
            result = self._app.acquire_token_for_client(scopes=[f"{self.config.base_url}/.default"])
        except (ValueError, requests.RequestException) as exc:
            raise GraphError(f"token: {exc}") from exc
        if "access_token" not in result:
            raise GraphError(f"token: {result.get('error')}: {result.get('error_description')}")
        return str(result["access_token"])

    def batch(self, urls: Sequence[str]) -> list[tuple[int, dict[str, Any]]]:
        """(status, body) of each GET ``url`` (relative to /v1.0), in order; 0 = never answered."""
        if len(urls) > BATCH_SIZE:
            raise ValueError(f"at most {BATCH_SIZE} requests per batch")
        answers: list[tuple[int, dict[str, Any]]] = [(0, {}) for _ in urls]
        pending = list(range(len(urls)))
        for _attempt in range(MAX_ATTEMPTS):
            body = {"requests": [{"id": str(i), "method": "GET", "url": urls[i]} for i in pending]}
            responses = self._post_batch(body)
            throttled, wait = [], 0.0
            for item in responses:
                index = int(item.get("id", -1))
                if index not in pending:
                    continue
                status = int(item.get("status", 0))
                if status == 429:
                    throttled.append(index)
                    wait = max(wait, _retry_after(item.get("headers") or {}))
                else:
                    answers[index] = (status, item.get("body") or {})
            if not throttled:
                return answers
            pending = throttled
            self._wait(wait)
        return answers

    def _post_batch(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        for _attempt in range(MAX_ATTEMPTS):
            try:
                response = self._session.post(
                    f"{self.config.base_url}/v1.0/$batch",
                    json=body,
                    headers={"Authorization": f"Bearer {self._token()}"},
                )
            except requests.RequestException as exc:
                raise GraphError(f"$batch: {exc}") from exc
            if response.status_code == 429:
                self._wait(_retry_after(dict(response.headers)))
                continue
            if response.status_code != 200:
                raise GraphError(f"$batch answered {response.status_code}: {response.text[:300]}")
            return list(response.json().get("responses") or [])
        raise GraphThrottled(f"$batch still throttled after {MAX_ATTEMPTS} attempts")

    def _wait(self, seconds: float) -> None:
        if seconds > MAX_WAIT_SECONDS:
            raise GraphThrottled(f"Graph asks to wait {seconds:.0f} s")
        self._sleep(seconds)


@dataclass
class GraphRefreshResult:
    asked: int = 0
    users: int = 0
    applications: int = 0
    not_found: int = 0
    failed: int = 0  # answered with an error, or never answered: asked again next run
    throttled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_SELECT_USER = "$select=id,displayName,mail,userPrincipalName,department"
_SELECT_APP = "$select=id,appId,displayName"
_LOOKUPS: tuple[tuple[Callable[[str], str], str], ...] = (
    (lambda oid: f"/users/{oid}?{_SELECT_USER}", NamedIdentity.Kind.USER),
    (lambda oid: f"/servicePrincipals/{oid}?{_SELECT_APP}", NamedIdentity.Kind.APPLICATION),
    (lambda oid: f"/servicePrincipals(appId='{oid}')?{_SELECT_APP}", NamedIdentity.Kind.APPLICATION),
)


def graph_people_refresh(*, now: datetime | None = None, sleep: Sleep = time.sleep) -> GraphRefreshResult:
    """Ask Graph about the ids of recent requests that are due (see the module docstring)."""
    config = graph_config()
    now = now or timezone.now()
    seen = people_ids_seen(since=now - LOOKBACK)
    due = people_graph_due(
        object_ids=(oid for oid in seen if _GUID.match(oid)),
        now=now,
        refresh=timedelta(days=settings.PORTAL_GRAPH_REFRESH_DAYS),
    )[: settings.PORTAL_GRAPH_MAX_IDS_PER_RUN]
    result = GraphRefreshResult(asked=len(due))
    if not due:
        return result
    client = GraphClient(config, sleep=sleep)
    remaining = due
    try:
        for url_of, kind in _LOOKUPS:
            missing: list[str] = []
            for start in range(0, len(remaining), BATCH_SIZE):
                chunk = remaining[start : start + BATCH_SIZE]
                for oid, (status, body) in zip(
                    chunk, client.batch([url_of(oid) for oid in chunk]), strict=True
                ):
                    if status == 200:
                        _record(oid, body, kind=kind, now=now, result=result)
                    elif status == 404:
                        missing.append(oid)
                    else:
                        result.failed += 1
                        log.warning("Graph answered %s for %s: %s", status, oid, body.get("error"))
            remaining = missing
    except GraphThrottled as exc:
        log.warning("Graph throttled the people refresh, the rest waits for the next run: %s", exc)
        result.throttled = True
        return result
    for oid in remaining:
        person_observe(object_id=oid, source="graph", graph_checked_at=now)
        result.not_found += 1
    return result


def _record(oid: str, body: dict[str, Any], *, kind: str, now: datetime, result: GraphRefreshResult) -> None:
    if kind == NamedIdentity.Kind.USER:
        upn = str(body.get("userPrincipalName") or "")
        email = str(body.get("mail") or "") or (upn if "@" in upn else "")
        result.users += 1
    else:
        email = ""
        result.applications += 1
    person_observe(
        object_id=oid,
        source="graph",
        display_name=str(body.get("displayName") or ""),
        email=email,
        department=str(body.get("department") or ""),
        kind=kind,
        graph_checked_at=now,
    )
