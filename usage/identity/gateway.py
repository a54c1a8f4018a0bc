"""Gateway identities: the APIM instances' managed identities, which are never the caller.

Configured (``PORTAL_GATEWAY_IDENTITIES``) or added by an admin (``GatewayIdentity``), and
proposed: an object id that carries most of the native traffic across many APIM subscriptions is
almost surely APIM's own (a person uses one or two subscriptions). A proposal is only shown; an
admin confirms it, then ``manage.py callers_reevaluate`` re-reads the requests already stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, OuterRef, Subquery

from usage.models import GatewayIdentity, GatewayRequest, NativeLog

# A proposal needs this share of the joined requests and this many subscriptions.
PROPOSAL_MIN_SHARE = 0.5
PROPOSAL_MIN_SUBSCRIPTIONS = 3
PROPOSAL_WINDOW = timedelta(days=7)


def gateway_identities_get() -> frozenset[str]:
    """Every gateway identity, lower-case: the setting's and the admin site's."""
    configured = {value.strip().lower() for value in settings.PORTAL_GATEWAY_IDENTITIES if value.strip()}
    stored = GatewayIdentity.objects.values_list("object_id", flat=True)
    return frozenset(configured | {value.strip().lower() for value in stored})


@dataclass(frozen=True)
class GatewayIdentityProposal:
    object_id: str
    requests: int
    subscriptions: int
    share: float  # of the window's requests joined to a native log


def gateway_identity_proposals(
    *, end: datetime | None = None, window: timedelta = PROPOSAL_WINDOW
) -> list[GatewayIdentityProposal]:
    """Native object ids that look like a gateway's and are not known as one yet, biggest first.

    Reads the requests of ``[end - window, end)`` joined to their native row; without ``end``,
    the window ends with the latest stored request (ingestion may lag, the demo's data be old).
    """
    if end is None:
        latest = GatewayRequest.objects.aggregate(latest=Max("time"))["latest"]
        if latest is None:
            return []
        end = latest + timedelta(microseconds=1)
    native = NativeLog.objects.filter(correlation_id=OuterRef("apim_request_id")).exclude(object_id="")
    counted = (
        GatewayRequest.objects.filter(time__gte=end - window, time__lt=end)
        .exclude(apim_request_id="")
        .annotate(native_oid=Subquery(native.values("object_id")[:1]))
        .exclude(native_oid=None)
        .values("native_oid")
        .annotate(requests=Count("id"), subscriptions=Count("apim_subscription_id", distinct=True))
        .order_by()
    )
    rows = list(counted)
    joined = sum(row["requests"] for row in rows)
    known = gateway_identities_get()
    proposals = [
        GatewayIdentityProposal(
            object_id=row["native_oid"],
            requests=row["requests"],
            subscriptions=row["subscriptions"],
            share=row["requests"] / joined,
        )
        for row in rows
        if row["native_oid"].strip().lower() not in known
        and row["subscriptions"] >= PROPOSAL_MIN_SUBSCRIPTIONS
        and row["requests"] >= PROPOSAL_MIN_SHARE * joined
    ]
    return sorted(proposals, key=lambda p: (-p.requests, p.object_id))
