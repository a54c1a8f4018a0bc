"""The request explorer: any gateway request, found by time, subscription, person, deployment,
model, status, flag or correlation id, newest first.

Built to stay fast on millions of requests: every filter is on an indexed column (or the flag
table's request ids), pages are keyset pages (``after`` = the last row's time and id, so a page
deep in the past costs what the first one costs), a page fetches one row more than it shows to
know whether there is a next one, and nothing counts all matching rows. Rows are read without
their bodies; opening one is the audited request page.
"""

from dataclasses import dataclass, fields
from datetime import datetime

from django.db.models import Q, QuerySet
from django.http import QueryDict

from aoai_portal.params import ParamError, datetime_parse, shown
from usage.models import GatewayRequest, NamedIdentity

from .models import Flag

PAGE_SIZE = 50
MAX_TEXT = 256  # the longest subscription, deployment... the columns hold

# Status classes as in the rollups (usage.models.requests.status_class).
STATUS_CLASSES = {
    "2xx": Q(response_code__gte=200, response_code__lt=400),
    "4xx": Q(response_code__gte=400, response_code__lt=500) & ~Q(response_code=429),
    "429": Q(response_code=429),
    "5xx": Q(response_code__gte=500),
    "unknown": Q(response_code__isnull=True) | Q(response_code__lt=200),
}
ANY_FLAG = "any"

# What a page reads of each request: never the bodies or headers.
_COLUMNS = (
    "id",
    "correlation_id",
    "time",
    "apim_subscription_id",
    "caller_object_id",
    "deployment",
    "model",
    "operation_id",
    "response_code",
    "total_tokens",
    "total_time_ms",
    "is_streaming",
)


@dataclass(frozen=True)
class ExplorerFilters:
    since: datetime | None = None  # request time, half-open [since, until)
    until: datetime | None = None
    subscription: str = ""
    person: str = ""  # GatewayRequest.caller_object_id, or a person's e-mail (NamedIdentity)
    deployment: str = ""
    model: str = ""
    status: str = ""  # a key of STATUS_CLASSES
    flag: str = ""  # ANY_FLAG or a Flag.source ("detector:email", "rule:3")
    correlation_id: str = ""

    def is_empty(self) -> bool:
        return all(not getattr(self, f.name) for f in fields(self))


def _text(query: QueryDict, name: str) -> str:
    value = str(query.get(name, "")).strip()
    if len(value) > MAX_TEXT:
        raise ParamError(f"{name} is longer than {MAX_TEXT} characters.")
    return value


def explorer_filters_parse(query: QueryDict, *, flag_sources: set[str]) -> ExplorerFilters:
    """The filters of a query string; a value that cannot be used raises ``ParamError``."""
    since = datetime_parse(_text(query, "from"), name="From") if _text(query, "from") else None
    until = datetime_parse(_text(query, "to"), name="To") if _text(query, "to") else None
    if since and until and until <= since:
        raise ParamError("'To' must be after 'From'.")
    status = _text(query, "status")
    if status and status not in STATUS_CLASSES:
        raise ParamError(f"status must be one of {', '.join(STATUS_CLASSES)}, not {shown(status)}.")
    flag = _text(query, "flag")
    if flag and flag != ANY_FLAG and flag not in flag_sources:
        raise ParamError(f"No rule or detector {shown(flag)}.")
    return ExplorerFilters(
        since=since,
        until=until,
        subscription=_text(query, "subscription"),
        person=_text(query, "person"),
        deployment=_text(query, "deployment"),
        model=_text(query, "model"),
        status=status,
        flag=flag,
        correlation_id=_text(query, "correlation_id"),
    )


def explorer_cursor_parse(text: str) -> tuple[datetime, int] | None:
    """``after`` of a query string (``<ISO time>,<id>`` of the last row shown), or None."""
    if not text:
        return None
    moment, _, pk = text.rpartition(",")
    if not pk.isdigit() or len(pk) > 18:
        raise ParamError(f"after is not a page position: {shown(text)}.")
    return datetime_parse(moment, name="after"), int(pk)


def explorer_cursor(row: GatewayRequest) -> str:
    return f"{row.time.isoformat()},{row.pk}"


def _person_ids(person: str) -> list[str]:
    """An object id as it is; an e-mail (anything with "@") as the object ids of that person."""
    if "@" not in person:
        return [person]
    return list(NamedIdentity.objects.filter(email__iexact=person).values_list("object_id", flat=True))


def requests_explore_filter(*, filters: ExplorerFilters) -> QuerySet[GatewayRequest]:
    requests = GatewayRequest.objects.all()
    if filters.correlation_id:
        requests = requests.filter(correlation_id=filters.correlation_id)
    if filters.since:
        requests = requests.filter(time__gte=filters.since)
    if filters.until:
        requests = requests.filter(time__lt=filters.until)
    if filters.subscription:
        requests = requests.filter(apim_subscription_id=filters.subscription)
    if filters.person:
        requests = requests.filter(caller_object_id__in=_person_ids(filters.person))
    if filters.deployment:
        requests = requests.filter(deployment=filters.deployment)
    if filters.model:
        requests = requests.filter(model=filters.model)
    if filters.status:
        requests = requests.filter(STATUS_CLASSES[filters.status])
    if filters.flag == ANY_FLAG:
        requests = requests.filter(pk__in=Flag.objects.values("request_id"))
    elif filters.flag:
        requests = requests.filter(pk__in=Flag.objects.filter(source=filters.flag).values("request_id"))
    return requests


@dataclass(frozen=True)
class ExplorerPage:
    rows: list[GatewayRequest]
    next_after: str  # "" on the last page


def requests_explore(
    *, filters: ExplorerFilters, after: tuple[datetime, int] | None = None, size: int = PAGE_SIZE
) -> ExplorerPage:
    """One keyset page of matching requests, newest first."""
    requests = requests_explore_filter(filters=filters)
    if after is not None:
        time, pk = after
        requests = requests.filter(Q(time__lt=time) | Q(time=time, pk__lt=pk))
    rows = list(requests.only(*_COLUMNS).order_by("-time", "-pk")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return ExplorerPage(rows=rows, next_after=explorer_cursor(rows[-1]) if more else "")


def people_by_object_id(*, object_ids: set[str]) -> dict[str, NamedIdentity]:
    """The people (and applications) of a page's caller ids, for their names."""
    ids = {object_id for object_id in object_ids if object_id}
    return {person.object_id: person for person in NamedIdentity.objects.filter(object_id__in=ids)}
