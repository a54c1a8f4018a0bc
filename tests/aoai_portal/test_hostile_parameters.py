"""No 500 from input: every URL pattern, hostile values in every parameter it reads, every role.

The URL resolver is walked (pages, the ninja API, the admin site). For each pattern:

* the parameters it reads are found by asking it: one probe request as admin through a middleware
  that records every name the view looks up in ``request.GET``; ninja operations add the query
  parameters of their OpenAPI schema (ninja iterates the query string instead of looking names
  up). A scan of the source (``GET.get("...")`` and the like) adds every name read anywhere;
* path parameters get a real value (a row of the small world below) and each hostile value;
* every persona sends the URL with each path variant, and each hostile value in all parameters
  at once; admin (who holds every role) then sends each hostile value in each parameter alone.

A 500 anywhere fails, listing every request that got one.
"""

import functools
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.http import QueryDict
from django.test import Client, RequestFactory, override_settings
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve

from aoai_portal.roles import ADMIN, BUDGET_OWNER, FINANCE, REVIEWER

PERSONAS = ("anonymous", "norole", FINANCE, REVIEWER, ADMIN, BUDGET_OWNER)
HOSTILE = (
    "\x00",
    "9999-12",
    "0001-01",
    "9999-12-31",
    "0001-01-01",
    "99999999999999999999",
    "-1",
    "-99999999999999999999",
    "x" * 5000,
    "",
)
# Query-string ready: each hostile value percent-encoded, plus bytes that are not UTF-8.
ENCODED = tuple(quote(value, safe="") for value in HOSTILE) + ("%ff%fe",)
# A persona the URL turns away (sign-in, 401, 403) gets no further than the role check.
REFUSED = (302, 401, 403)
# Django's own admin views (changelist, add, change, delete, history) are the same code for every
# model: they get every hostile value on one model, REPRESENTATIVE_ADMIN, and these on the others.
REPRESENTATIVE_ADMIN = "admin/usage/gatewayrequest/"
STOCK_ADMIN_VALUES = tuple(quote(v, safe="") for v in ("\x00", "", "9999-12-31", "99999999999999999999")) + (
    "%ff%fe",
)
STOCK_ADMIN_PATH_VALUES = tuple(quote(v, safe="") for v in ("99999999999999999999", "-1", "x" * 5000)) + (
    "%ff%fe",
)
PROJECT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = ("aoai_portal", "audit", "usage", "quotas")
# Names a view reads from the query string, as the source spells them.
_READS = re.compile(
    r"""parameter_name\s*=\s*["'](\w+)["']|(?:GET|params)(?:\.get|\.getlist|\.pop)?[\[(]\s*["'](\w+)["']|["'](\w+)["']\s+(?:not\s+)?in\s+(?:self\.)?request\.GET"""
)


# --- The URL patterns -----------------------------------------------------------------------------


def _walk(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


ROUTES: dict[str, URLPattern] = dict(_walk(get_resolver().url_patterns))
# "<int:item_id>", "<path:object_id>" or a regex group "(?P<app_label>a|b)".
_PLACEHOLDER = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def _admin_model(route: str):
    match = re.match(r"admin/(\w+)/(\w+)/", route)
    if match:
        for model in admin.site._registry:
            if (model._meta.app_label, model._meta.model_name) == match.groups():
                return model
    return None


def _stock_admin(route: str) -> bool:
    module = ROUTES[route].callback.__module__
    return (
        route.startswith("admin/")
        and module.startswith("django.")
        and not route.startswith(REPRESENTATIVE_ADMIN)
    )


def _samples(route: str, world: dict) -> dict[str, str]:
    """A real value for each path parameter of ``route``."""
    model = _admin_model(route)
    first = model.objects.order_by("pk").values_list("pk", flat=True).first() if model else None
    return {
        "correlation_id": world["correlation_id"],
        "item_id": str(world["item_id"]),
        "object_id": str(first if first is not None else 1),
        "id": str(world["user_id"]),
        "tier_id": str(world["tier_id"]),
        "token_id": "1",
        "content_type_id": str(ContentType.objects.get_for_model(User).pk),
        "app_label": "usage",
        "url": "no-such-page/",
    }


def _route_matches(path: str, route: str) -> bool:
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        decoded = path
    try:
        return resolve(decoded).route == route
    except Resolver404:
        return False


def concrete_paths(route: str, world: dict, *, values: tuple[str, ...] = ENCODED) -> list[str]:
    """The route with real values, then with each hostile value in each path parameter (those
    the pattern accepts: an ``int`` converter never sees "x")."""
    template = route.replace("^", "").replace("$", "")
    names = [a or b for a, b in _PLACEHOLDER.findall(template)]
    samples = _samples(route, world)

    def fill(values: dict[str, str]) -> str:
        return "/" + _PLACEHOLDER.sub(lambda m: values[m.group(1) or m.group(2)], template)

    paths = [fill({name: quote(samples[name], safe="/") for name in names})]
    for name in names:
        for value in values:
            candidate = fill({**{n: quote(samples[n], safe="/") for n in names}, name: value})
            if candidate not in paths and _route_matches(candidate, route):
                paths.append(candidate)
    return paths


def _ninja_operation(callback):
    from ninja.operation import PathView

    for cell in getattr(callback, "__closure__", None) or ():
        if isinstance(cell.cell_contents, PathView):
            return cell.cell_contents
    return None


@functools.cache
def _openapi_schema() -> dict:
    from aoai_portal.api import api

    return api.get_openapi_schema(path_prefix="/api/")


def changelist_parameters(route: str, world: dict) -> set[str]:
    """The filter parameters of an admin changelist (its list_filter and date_hierarchy), which
    Django reads by walking the query string rather than by name."""
    model = _admin_model(route)
    if model is None or route != f"admin/{model._meta.app_label}/{model._meta.model_name}/":
        return set()
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/")
    request.user = world["people"][ADMIN]
    names = {
        name
        for spec in model_admin.get_changelist_instance(request).filter_specs
        for name in spec.expected_parameters()
    }
    if model_admin.date_hierarchy:
        names |= {f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")}
    return names


def api_parameters(route: str) -> set[str]:
    """Query parameters of the ninja operation at ``route`` (empty for other views)."""
    if _ninja_operation(ROUTES[route].callback) is None:
        return set()
    schema = _openapi_schema()
    operations = schema["paths"].get("/" + route, {})
    return {
        parameter["name"]
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    }


@functools.cache
def source_parameters() -> set[str]:
    """Every query parameter name the project's code reads, by a scan of its source."""
    names = set()
    for package in PROJECT_PACKAGES:
        for path in (PROJECT / package).rglob("*.py"):
            for match in _READS.finditer(path.read_text()):
                names.add(next(group for group in match.groups() if group))
    return names


# --- Recording what a view reads ---------------------------------------------------------------------

READ_NAMES: set[str] = set()


class _RecordingQueryDict(QueryDict):
    def get(self, key, default=None):
        READ_NAMES.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        READ_NAMES.add(key)
        return super().__getitem__(key)

    def getlist(self, key, default=None):
        READ_NAMES.add(key)
        return super().getlist(key, default)

    def __contains__(self, key):
        READ_NAMES.add(key)
        return super().__contains__(key)


class RecordingMiddleware:
    """Test-only: ``request.GET`` notes every name looked up in it (into READ_NAMES)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.GET = _RecordingQueryDict(request.META.get("QUERY_STRING", ""), encoding=request.encoding)
        return self.get_response(request)


# --- A small world, built once for the module ----------------------------------------------------------


def _world_build() -> dict:
    import random

    from aoai_portal.access_audit import access_audit_record
    from audit.services.flags import flags_evaluate
    from quotas.models import TierAssignment
    from tests.factories import chat_request_create, tier_add
    from tests.support.chargeback_data import cost_centers_create, request_row, requests_store
    from usage.chargeback.services import chargeback_month_close
    from usage.models import IngestionRun, NamedIdentity, NativeLog, RejectedRow

    now = datetime.now(UTC)
    rng = random.Random(22)
    people = {}
    for persona in PERSONAS[1:]:
        user = User.objects.create_user(username=f"hostile-{persona}", password=None)
        if persona != "norole":
            user.groups.add(Group.objects.get_or_create(name=persona)[0])
        people[persona] = user
    cost_centers_create()
    from usage.models import CostCenter, CostCenterOwner

    CostCenterOwner.objects.create(
        cost_center=CostCenter.objects.order_by("code").first(), value=people[BUDGET_OWNER].username
    )
    # This month and the last: the pages' defaults read real rows; the last month is closed.
    rows = [
        request_row(rng, now - timedelta(days=rng.randrange(40), hours=rng.randrange(24)), n)
        for n in range(30)
    ]
    requests_store(rows)
    last_month = (now.replace(day=1) - timedelta(days=1)).date().replace(day=1)
    chargeback_month_close(month=last_month, user=people[FINANCE], warnings_confirmed=True)
    flagged = chat_request_create(
        "hostile-flagged", prompt="key AKIAIOSFODNN7EXAMPLE, mail bob@example.com", time=now
    )
    flags_evaluate(correlation_ids=[flagged.correlation_id])
    NativeLog.objects.create(correlation_id="native-hostile", time=now, duration_ms=10, location="eastus2")
    tier = tier_add("gold", budget="100")
    TierAssignment.objects.create(kind="subscription", key="sub-alpha", tier=tier)
    NamedIdentity.objects.create(object_id="oid-1", display_name="Someone")
    IngestionRun.objects.create(source="file", table="ApiManagementGatewayLogs", status="ok")
    RejectedRow.objects.create(source="file", reason="bad", raw="{}", fingerprint="f" * 64)
    access_audit_record(
        request=None, action="view_prompt", correlation_id=flagged.correlation_id, user=people[REVIEWER]
    )
    from audit.models import ReviewItem

    return {
        "people": people,
        "correlation_id": flagged.correlation_id,
        "item_id": ReviewItem.objects.values_list("pk", flat=True).first() or 1,
        "user_id": people[ADMIN].pk,
        "tier_id": tier.pk,
    }


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Rows and signed-in clients shared by every test of the module, rolled back at its end (as
    setUpTestData does): the per-pattern tests then cost only their requests."""
    from aoai_portal.auth.services import api_token_create

    overrides = override_settings(
        MIDDLEWARE=["tests.aoai_portal.test_hostile_parameters.RecordingMiddleware", *settings.MIDDLEWARE],
        ENTRA_TENANT_ID="72f988bf-86f1-41af-91ab-2d7cd011db47",
        ENTRA_CLIENT_ID="hostile-client",
        ENTRA_CLIENT_SECRET="hostile-secret",
    )
    with django_db_blocker.unblock(), overrides:
        outer = transaction.atomic()
        outer.__enter__()
        try:
            data = _world_build()
            data["clients"] = {"anonymous": Client(raise_request_exception=False)}
            for persona, user in data["people"].items():
                client = Client(raise_request_exception=False)
                client.force_login(user)
                _, client.api_token = api_token_create(user=user, name="hostile")
                data["clients"][persona] = client
            yield data
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def _get(client: Client, path: str, query: str = ""):
    extra = {}
    if path.startswith("/api/v1/") and getattr(client, "api_token", None):
        extra["HTTP_AUTHORIZATION"] = f"Bearer {client.api_token}"
    return client.get(path + ("?" + query if query else ""), **extra)


# --- The tests -----------------------------------------------------------------------------------------


def test_the_source_scan_finds_the_parameters_views_read():
    # Guards the guard: if the scan found nothing, the all-at-once requests would test nothing.
    assert {"month", "page", "from", "group", "identities"} <= source_parameters()


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_no_hostile_value_makes_a_500(world, db, route):
    clients = world["clients"]
    failures = []

    def check(persona: str, path: str, query: str = ""):
        response = _get(clients[persona], path, query)
        if response.status_code >= 500:
            failures.append(f"{persona} GET {path}?{query[:120]} -> {response.status_code}")
        return response

    stock = _stock_admin(route)
    values = STOCK_ADMIN_VALUES if stock else ENCODED
    paths = concrete_paths(route, world, values=STOCK_ADMIN_PATH_VALUES if stock else ENCODED)
    READ_NAMES.clear()
    check(ADMIN, paths[0], "__probe__=1")
    names = (set(READ_NAMES) | api_parameters(route) | changelist_parameters(route, world)) - {"__probe__"}
    everywhere = names | source_parameters()
    for persona in PERSONAS:
        refused = check(persona, paths[0]).status_code in REFUSED
        if refused and route.startswith("admin/"):
            continue  # the admin site's role check runs before anything else of it
        for value in values:
            check(persona, paths[0], "&".join(f"{quote(name)}={value}" for name in sorted(everywhere)))
        if not refused:
            for path in paths[1:]:
                check(persona, path)
    # One at a time, as admin (who holds every role: the code that reads parameters is the same
    # for every role it lets in, and those it refuses read none). Django's stock admin views read
    # the same names for every model: only the filters and search of each model are varied.
    if stock:
        names = changelist_parameters(route, world) | ({"q"} & names)
    for name in sorted(names):
        for value in values:
            check(ADMIN, paths[0], f"{quote(name)}={value}")
    assert not failures, f"{len(failures)} requests answered 5xx:\n" + "\n".join(failures[:40])
