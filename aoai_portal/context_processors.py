from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from .roles import ADMIN, ALL_ROLES, BUDGET_OWNER, FINANCE, REVIEWER, user_has_role, user_roles

# (label, url name, roles allowed). The navigation shows only what the role may open.
NAVIGATION = [
    ("Chargeback", "usage:chargeback", (FINANCE, BUDGET_OWNER)),
    ("Reconciliation", "costs:reconciliation", (FINANCE,)),
    ("Latency", "usage:latency", (FINANCE, REVIEWER)),
    ("Quotas", "quotas:overview", (FINANCE, BUDGET_OWNER)),
    ("Review queue", "audit:queue", (REVIEWER,)),
    ("Requests", "audit:explorer", (REVIEWER,)),
    ("Ingestion", "usage:ingestion_status", (ADMIN,)),
    ("Access audit", "audit:access_log", (ADMIN,)),
    ("Admin", "admin:index", (ADMIN,)),
    ("My API tokens", "api_tokens", ALL_ROLES),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "portal_roles": []}
    items = []
    for label, url_name, roles in NAVIGATION:
        if not user_has_role(user, roles):
            continue
        url = reverse(url_name)
        items.append({"label": label, "url": url, "active": request.path.startswith(url)})
    return {"nav_items": items, "portal_roles": sorted(user_roles(user))}
