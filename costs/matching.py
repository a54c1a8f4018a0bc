"""Which requests went to the Azure OpenAI account an invoice line bills.

A request's account is its native row's ``resource_id`` (AzureDiagnostics, joined on the
backend's ``apim-request-id``) when it has one, else the host of its backend URL. An invoice line's
ResourceId matches a request when:

1. it equals the request's native ``resource_id``, ignoring case (exports often lower-case it);
2. or the request has no native row and its backend host is the account's custom subdomain
   (``<account>.openai.azure.com``, ``.cognitiveservices.azure.com``, ``.services.ai.azure.com``)
   named like the account in the ResourceId;
3. or an admin's ``AccountMapping`` ties the ResourceId to the request's backend host (accounts
   reached through another name: a private endpoint, a gateway, a custom subdomain unlike the
   account's name).
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.db.models import OuterRef, Subquery, Sum

from usage.models import GatewayRequest, NativeLog

from .models import AccountMapping

_HOST_SUFFIXES = (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com")
_ACCOUNTS = "/providers/microsoft.cognitiveservices/accounts/"


@dataclass(frozen=True)
class RequestUsage:
    """A month's requests of one subscription and model to one account, summed."""

    account_key: str  # "resource:<lower-case resource id>" or "host:<backend host>"
    subscription: str
    model: str
    uncached_prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    cost: Decimal


def account_name(resource_id: str) -> str:
    """``.../providers/Microsoft.CognitiveServices/accounts/aoai-se`` -> ``aoai-se`` ("" otherwise)."""
    lowered = resource_id.strip().lower()
    if _ACCOUNTS not in lowered:
        return ""
    return lowered.split(_ACCOUNTS, 1)[1].split("/", 1)[0]


def host_account(host: str) -> str:
    """``aoai-se.openai.azure.com`` -> ``aoai-se``; "" for hosts that are not an account's."""
    host = host.lower()
    for suffix in _HOST_SUFFIXES:
        if host.endswith(suffix):
            return host[: -len(suffix)]
    return ""


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC)
    end = dt.datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=dt.UTC)
    return start, end


def month_request_sums(*, month: dt.date, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """The month's requests (UTC) summed per account and ``fields``: each row has ``account_key``,
    the fields, and ``prompt``, ``cached``, ``completion`` and ``cost_sum``."""
    start, end = month_bounds(month)
    native = NativeLog.objects.filter(correlation_id=OuterRef("apim_request_id")).exclude(correlation_id="")
    rows = (
        GatewayRequest.objects.filter(time__gte=start, time__lt=end)
        .annotate(native_resource=Subquery(native.values("resource_id")[:1]))
        .values("native_resource", "backend_url", *fields)
        .annotate(
            prompt=Sum("prompt_tokens"),
            cached=Sum("cached_tokens"),
            completion=Sum("completion_tokens"),
            cost_sum=Sum("cost"),
        )
        .order_by()
    )
    found = []
    for row in rows:
        resource = (row.pop("native_resource") or "").strip().lower()
        url = row.pop("backend_url") or ""
        row["account_key"] = f"resource:{resource}" if resource else f"host:{_host(url)}"
        found.append(row)
    return found


def month_usage(*, month: dt.date) -> list[RequestUsage]:
    """The month's requests (UTC), summed per account, subscription and model."""
    summed: dict[tuple[str, str, str], list[Any]] = defaultdict(lambda: [0, 0, 0, Decimal(0)])
    for row in month_request_sums(month=month, fields=("apim_subscription_id", "model")):
        totals = summed[(row["account_key"], row["apim_subscription_id"], row["model"])]
        prompt, cached = int(row["prompt"] or 0), int(row["cached"] or 0)
        totals[0] += max(prompt - cached, 0)
        totals[1] += cached
        totals[2] += int(row["completion"] or 0)
        totals[3] += row["cost_sum"] or Decimal(0)
    return [
        RequestUsage(
            account_key=key,
            subscription=subscription,
            model=model,
            uncached_prompt_tokens=t[0],
            cached_tokens=t[1],
            completion_tokens=t[2],
            cost=t[3],
        )
        for (key, subscription, model), t in sorted(summed.items())
    ]


def account_matcher(*, resource_ids: list[str]) -> Callable[[str, str], bool]:
    """``matches(resource_id, account_key)``: did requests with that account key go to the
    account of that invoice ResourceId (lower-case)?"""
    mapped: dict[str, set[str]] = defaultdict(set)
    for mapping in AccountMapping.objects.filter(resource_id__in=resource_ids):
        mapped[mapping.resource_id].add(mapping.backend_host)

    def matches(resource_id: str, account_key: str) -> bool:
        kind, _, value = account_key.partition(":")
        if kind == "resource":
            return value == resource_id
        name = account_name(resource_id)
        return value in mapped.get(resource_id, set()) or (bool(name) and host_account(value) == name)

    return matches


def accounts_match(*, resource_ids: list[str], usage: list[RequestUsage]) -> dict[str, list[RequestUsage]]:
    """The usage of the requests each invoice ResourceId (lower-case) billed."""
    matches = account_matcher(resource_ids=resource_ids)
    return {
        resource_id: [item for item in usage if matches(resource_id, item.account_key)]
        for resource_id in resource_ids
    }
