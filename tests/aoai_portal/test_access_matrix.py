"""Who may open what: every URL the site serves, for every kind of user.

``EXPECTATIONS`` is the one table of rules. The URL resolver is walked (pages, every operation of
the ninja API, exports, the admin site); a URL pattern without an entry FAILS the suite, and so does
an entry for a pattern that no longer exists.

To add a page: add one line, keyed by the route exactly as Django spells it (see the failure
message of ``test_every_url_the_site_serves_has_a_rule``), e.g.::

    "chargeback/<str:month>/export.csv": page(FINANCE, kwargs={"month": "2026-03"}),
    "GET api/v1/chargeback/{month}": api(FINANCE, kwargs={"month": "2026-03"}),

API operations are keyed "METHOD route". ``setup`` makes the rows a URL needs and returns its
kwargs. Statuses: pages send anonymous users to sign-in (302), users without a portal role get the
"no access" page (403), other roles 403; the API answers 401 / 403. Admin holds every role.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from aoai_portal.roles import ADMIN, BUDGET_OWNER, FINANCE, REVIEWER
from usage.models import CostCenter, CostCenterOwner

PERSONAS = ("anonymous", "norole", FINANCE, REVIEWER, ADMIN, BUDGET_OWNER)


@dataclass(frozen=True)
class Rule:
    expect: dict[str, int]
    kwargs: dict = field(default_factory=dict)
    query: str = ""
    # Makes the rows the URL needs; returns kwargs for the URL (merged over ``kwargs``).
    setup: Callable[[], dict] | None = None
    method: str = "GET"


def _by_role(allowed: tuple[str, ...], *, anonymous: int, ok: int = 200) -> dict[str, int]:
    expect = {"anonymous": anonymous, "norole": 403, ADMIN: ok}
    for role in (FINANCE, REVIEWER, BUDGET_OWNER):
        expect[role] = ok if role in allowed else 403
    return expect


def page(*roles: str, **options) -> Rule:
    """A page for ``roles`` (admin always included)."""
    return Rule(expect=_by_role(roles, anonymous=302), **options)


def api(*roles: str, **options) -> Rule:
    """An API operation for ``roles`` (admin always included)."""
    return Rule(expect=_by_role(roles, anonymous=401), **options)


def every(status: int, *, anonymous: int | None = None, **options) -> Rule:
    """The same answer for everyone (optionally another one for anonymous)."""
    expect = dict.fromkeys(PERSONAS, status)
    if anonymous is not None:
        expect["anonymous"] = anonymous
    return Rule(expect=expect, **options)


def custom(**expect: int) -> Rule:
    assert set(expect) == set(PERSONAS), f"give all of {PERSONAS}"
    return Rule(expect=expect)


def _gateway_request() -> dict:
    from tests.factories import gateway_request_create

    row = gateway_request_create(correlation_id="matrix-0001", time=datetime(2026, 3, 1, tzinfo=UTC))
    return {"correlation_id": row.correlation_id}


def _quota_tier() -> dict:
    from tests.factories import tier_add

    return {"tier_id": tier_add("Matrix").pk}


EXPECTATIONS: dict[str, Rule] = {
    # --- Sign-in, public -------------------------------------------------------------------
    "": custom(anonymous=302, norole=403, finance=302, reviewer=302, admin=302, budget_owner=302),
    "healthz": every(200),
    # Only for Prometheus' bearer token; without PORTAL_METRICS_TOKEN not served (test_metrics.py).
    "metrics": every(404),
    "favicon.ico": every(301),  # to the static favicon.svg
    "accounts/login/": every(200),
    "accounts/logout/": every(405),  # POST only (CSRF-protected)
    "oidc/authenticate/": every(302),  # to Entra's authorize endpoint
    "oidc/callback/": every(403),  # without a code and state: "sign-in failed" page
    "oidc/logout/": every(405),  # POST only
    # --- Pages -----------------------------------------------------------------------------
    # A budget owner opens the chargeback, its exports and the quotas, cut to their cost centers
    # (tests/aoai_portal/test_access_budget_owner.py tries to reach other cost centers).
    "chargeback/": page(FINANCE, BUDGET_OWNER),
    "chargeback/export.csv": page(FINANCE, BUDGET_OWNER, query="month=2026-03"),
    "chargeback/export.xlsx": page(FINANCE, BUDGET_OWNER, query="month=2026-03"),
    "chargeback/export.focus.csv": page(FINANCE, BUDGET_OWNER, query="month=2026-03"),
    "chargeback/export.focus.parquet": page(FINANCE, BUDGET_OWNER, query="month=2026-03"),
    "chargeback/close/": page(FINANCE, query="month=2026-03"),  # GET = confirmation page
    "chargeback/reopen/": page(ADMIN, query="month=2026-03"),  # GET = reason form
    "reconciliation/": page(FINANCE, query="month=2026-03"),
    "latency/": page(FINANCE, REVIEWER),
    "quotas/": page(FINANCE, BUDGET_OWNER),
    "quotas/tiers/<int:tier_id>/policy.xml": page(FINANCE, setup=_quota_tier),
    "review/": page(REVIEWER),
    # POST only: a GET by someone allowed is 405.
    "review/bulk/": custom(anonymous=302, norole=403, finance=403, reviewer=405, admin=405, budget_owner=403),
    "review/items/<int:item_id>/": Rule(
        expect={"anonymous": 302, "norole": 403, FINANCE: 403, REVIEWER: 405, ADMIN: 405, BUDGET_OWNER: 403},
        kwargs={"item_id": 1},
    ),
    "requests/<str:correlation_id>/": page(REVIEWER, setup=_gateway_request),
    "requests/": page(REVIEWER),
    "ingestion/": page(ADMIN),
    "access-audit/": page(ADMIN),
    # Everyone with a role manages their own API tokens; revoking is POST only.
    "tokens/": page(FINANCE, REVIEWER, BUDGET_OWNER),
    "tokens/<int:token_id>/revoke/": Rule(
        expect={"anonymous": 302, "norole": 403, FINANCE: 405, REVIEWER: 405, ADMIN: 405, BUDGET_OWNER: 405},
        kwargs={"token_id": 1},
    ),
    # --- API -------------------------------------------------------------------------------
    "api/": every(404),  # ninja's root: nothing there
    "api/docs": page(FINANCE, REVIEWER, BUDGET_OWNER),
    "api/openapi.json": page(FINANCE, REVIEWER, BUDGET_OWNER),
    "GET api/v1/me": every(200, anonymous=401),
    "GET api/v1/access-audit": api(ADMIN),
    "GET api/v1/quotas": api(FINANCE, BUDGET_OWNER),
    "GET api/v1/flags": api(REVIEWER),
    "GET api/v1/chargeback": api(FINANCE, BUDGET_OWNER, query="month=2026-03"),
    "GET api/v1/reconciliation": api(FINANCE, query="month=2026-03"),
    "GET api/v1/usage": api(FINANCE, BUDGET_OWNER, query="from=2026-03-01&to=2026-03-02"),
    "GET api/v1/latency": api(FINANCE, REVIEWER, query="from=2026-03-01&to=2026-03-02&group_by=region"),
}

# Every URL of the admin site (namespace "admin"): only the admin role. Checked on the index, each
# app index and each registered model's changelist.
ADMIN_SITE = page(ADMIN)


# --- Walking the URL resolver ---------------------------------------------------------------


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(filter(None, [namespace, pattern.namespace or ""]))
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), namespace, pattern


def _ninja_methods(callback) -> list[str] | None:
    """The HTTP methods of a ninja operation's URL pattern (None if it is not one)."""
    from ninja.operation import PathView

    for cell in getattr(callback, "__closure__", None) or ():
        if isinstance(cell.cell_contents, PathView):
            return sorted({m for op in cell.cell_contents.operations for m in op.methods})
    return None


def served_urls(patterns=None) -> set[str]:
    """The keys of every URL the site serves (or ``patterns``), outside the admin site."""
    keys = set()
    for route, namespace, pattern in _walk(get_resolver().url_patterns if patterns is None else patterns):
        if namespace.split(":")[0] == "admin":
            continue
        methods = _ninja_methods(pattern.callback)
        if methods is None:
            keys.add(route)
        else:
            keys.update(f"{method} {route}" for method in methods)
    return keys


def admin_urls() -> list[str]:
    urls = {reverse("admin:index")}
    for model in admin.site._registry:
        meta = model._meta
        urls.add(reverse("admin:app_list", kwargs={"app_label": meta.app_label}))
        urls.add(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
    return sorted(urls)


# --- The people ------------------------------------------------------------------------------


@pytest.fixture
def clients(db, settings) -> dict[str, Client]:
    # Entra configured (nothing is contacted: /oidc/authenticate/ only redirects).
    settings.ENTRA_TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    settings.ENTRA_CLIENT_ID = "matrix-client"
    settings.ENTRA_CLIENT_SECRET = "matrix-secret"
    people = {"anonymous": Client()}
    for persona in PERSONAS[1:]:
        user = User.objects.create_user(username=f"matrix-{persona}", password=None)
        if persona in (FINANCE, REVIEWER, ADMIN, BUDGET_OWNER):
            user.groups.add(Group.objects.get_or_create(name=persona)[0])
        if persona == BUDGET_OWNER:
            center = CostCenter.objects.create(code="MATRIX", name="Matrix")
            CostCenterOwner.objects.create(cost_center=center, kind="user", value=user.username)
        client = Client()
        client.force_login(user)
        people[persona] = client
    return people


def _check(clients: dict[str, Client], url: str, rule: Rule) -> list[str]:
    wrong = []
    for persona in PERSONAS:
        response = clients[persona].generic(rule.method, url)
        expected = rule.expect[persona]
        if response.status_code != expected:
            wrong.append(f"{rule.method} {url} as {persona}: {response.status_code}, expected {expected}")
        elif persona == "anonymous" and expected == 302 and not url.startswith(("/oidc/", "/api/")):
            location = response["Location"]
            if url != "/" and not location.startswith("/accounts/login/"):
                wrong.append(f"{url} as anonymous redirects to {location}, not to sign-in")
    return wrong


def _url_for(key: str, rule: Rule) -> str:
    route = key.split(" ", 1)[1] if key[:1].isupper() and " " in key else key
    kwargs = {**rule.kwargs, **(rule.setup() if rule.setup else {})}
    for name, value in kwargs.items():
        for converter in ("", "str:", "int:", "slug:", "uuid:", "path:"):
            route = route.replace(f"<{converter}{name}>", str(value))
        route = route.replace("{" + name + "}", str(value))
    assert "<" not in route and "{" not in route, f"{key}: give sample kwargs for its parameters"
    return "/" + route + (f"?{rule.query}" if rule.query else "")


# --- The tests -------------------------------------------------------------------------------


def test_every_url_the_site_serves_has_a_rule():
    served = served_urls()
    missing = sorted(served - set(EXPECTATIONS))
    stale = sorted(set(EXPECTATIONS) - served)
    assert not missing, (
        "URLs without an access rule (add them to EXPECTATIONS in tests/test_access_matrix.py): "
        + ", ".join(repr(key) for key in missing)
    )
    assert not stale, "Rules for URLs the site no longer serves: " + ", ".join(repr(k) for k in stale)


@pytest.mark.parametrize("key", sorted(EXPECTATIONS))
def test_each_url_answers_each_kind_of_user_as_the_table_says(clients, key):
    rule = EXPECTATIONS[key]
    if key[:1].isupper() and " " in key:
        rule = Rule(**{**rule.__dict__, "method": key.split(" ", 1)[0]})
    wrong = _check(clients, _url_for(key, rule), rule)
    assert not wrong, "\n".join(wrong)


def test_the_admin_site_is_for_the_admin_role_only(clients):
    wrong = []
    for url in admin_urls():
        wrong += _check(clients, url, ADMIN_SITE)
    assert not wrong, "\n".join(wrong)


def test_the_matrix_notices_a_page_without_a_rule():
    # Guards the guard: a new pattern in the URLconf shows up as missing.
    from django.urls import path

    patterns = [*get_resolver().url_patterns, path("brand-new/", lambda request: None)]
    assert served_urls(patterns) - set(EXPECTATIONS) == {"brand-new/"}
