"""Who called: each identity source, in its order, through the real ingestion (rows_store)."""

import pytest
from django.core.management import call_command
from django.test import override_settings

from usage.identity.gateway import gateway_identity_proposals
from usage.identity.sources import Caller, caller_resolve
from usage.ingestion.store import rows_store
from usage.ingestion.tables import GATEWAY, NATIVE
from usage.models import GatewayIdentity, GatewayRequest

from .traffic import END, GATEWAY_OID, KINDS, identity_logs, person

NAMES = ("x-caller-oid", "x-caller-appid")


@pytest.mark.parametrize(
    ("headers", "native", "user", "want"),
    [
        ({"x-caller-oid": "A"}, "b", "carol", Caller("a", "header")),
        ({"x-caller-appid": "app"}, "b", "carol", Caller("app", "header")),
        ({"x-caller-oid": "a", "x-caller-appid": "app"}, "", "", Caller("a", "header")),
        ({"x-caller-oid": "  "}, "b", "carol", Caller("b", "native")),
        ({}, GATEWAY_OID, "carol", Caller("carol", "apim-user")),
        ({}, GATEWAY_OID.upper(), "1", Caller()),
        ({}, "", "Administrator", Caller()),
        ({}, "", "", Caller()),
    ],
)
def test_it_finds_the_caller_in_order(headers, native, user, want):
    got = caller_resolve(
        headers=headers, names=NAMES, native_object_id=native, user_id=user, gateway_ids={GATEWAY_OID}
    )
    assert got == want


def test_it_keeps_the_header_source_found_at_ingestion_while_it_names_the_same_id():
    stored = Caller("a", "header-frontend")
    kept = caller_resolve(
        headers={"x-caller-oid": "a"},
        names=NAMES,
        native_object_id="",
        user_id="",
        gateway_ids=(),
        stored=stored,
    )
    other = caller_resolve(
        headers={"x-caller-oid": "b"},
        names=NAMES,
        native_object_id="",
        user_id="",
        gateway_ids=(),
        stored=stored,
    )
    assert (kept, other) == (stored, Caller("b", "header"))


def _callers() -> dict[str, tuple[str, str]]:
    return {
        c: (oid, source)
        for c, oid, source in GatewayRequest.objects.values_list(
            "correlation_id", "caller_object_id", "caller_source"
        )
    }


@pytest.mark.parametrize("native_first", [False, True], ids=["native-late", "native-first"])
@override_settings(PORTAL_GATEWAY_IDENTITIES=[GATEWAY_OID])
def test_ingestion_stores_each_requests_caller_whatever_arrives_first(db, write_path, native_first):
    logs, expected = identity_logs()
    for table in (NATIVE, GATEWAY) if native_first else (GATEWAY, NATIVE):
        rows_store(table=table, rows=logs[table])
    assert _callers() == expected
    sources = {source for _, source in expected.values()}
    assert sources == {"header-backend", "header-frontend", "native", "apim-user", ""}
    # The identity header's value is kept with the request's headers; the backend's wins.
    both = GatewayRequest.objects.get(correlation_id=list(expected)[2])
    assert both.request_headers["x-caller-oid"] == person(3)


def test_without_the_gateway_identity_known_its_id_is_taken_for_the_caller(db):
    logs, expected = identity_logs()
    rows_store(table=GATEWAY, rows=logs[GATEWAY])
    rows_store(table=NATIVE, rows=logs[NATIVE])
    callers = _callers()
    ids = list(expected)
    fifth = [c for i, c in enumerate(ids) if i % KINDS == 5 and callers[c][0]]
    assert fifth and all(callers[c] == (GATEWAY_OID, "native") for c in fifth)


def test_the_gateway_identity_is_proposed_then_confirmed_and_reevaluation_applies_it(db, admin_user):
    logs, expected = identity_logs()
    rows_store(table=GATEWAY, rows=logs[GATEWAY])
    rows_store(table=NATIVE, rows=logs[NATIVE])
    proposals = gateway_identity_proposals(end=END)
    assert [p.object_id for p in proposals] == [GATEWAY_OID]
    assert proposals[0].subscriptions >= 3 and proposals[0].share > 0.5

    GatewayIdentity.objects.create(object_id=GATEWAY_OID, created_by=admin_user)
    assert gateway_identity_proposals(end=END) == []
    call_command("callers_reevaluate", "--month", "2026-11")
    assert _callers() == expected
    # Idempotent: a second run finds nothing to change.
    from io import StringIO

    out = StringIO()
    call_command("callers_reevaluate", stdout=out, stderr=StringIO())
    assert out.getvalue().strip() == f"examined {len(expected)} requests; 0 changed caller"


@override_settings(PORTAL_GATEWAY_IDENTITIES=[GATEWAY_OID])
def test_reevaluation_fills_requests_stored_before_callers_were_kept(db):
    logs, expected = identity_logs()
    rows_store(table=GATEWAY, rows=logs[GATEWAY])
    rows_store(table=NATIVE, rows=logs[NATIVE])
    GatewayRequest.objects.update(caller_object_id="", caller_source="")
    call_command("callers_reevaluate", "--since", "2026-11-01", stdout=None)
    # Which request carried a header is no longer known; everything else is found again.
    relabelled = {
        c: (oid, "header" if source.startswith("header") else source) for c, (oid, source) in expected.items()
    }
    assert _callers() == relabelled


@override_settings(
    PORTAL_IDENTITY_HEADERS=[("oid", "x-user-object-id")], PORTAL_GATEWAY_IDENTITIES=[GATEWAY_OID]
)
def test_header_names_are_configurable(db):
    logs, _ = identity_logs()
    first = logs[GATEWAY][0]
    first["BackendRequestHeaders"] = '{"x-user-object-id": "' + person(7) + '", "x-caller-oid": "ignored"}'
    rows_store(table=GATEWAY, rows=[first])
    stored = GatewayRequest.objects.get(correlation_id=first["CorrelationId"])
    assert (stored.caller_object_id, stored.caller_source) == (person(7), "header-backend")


def test_a_bearer_token_in_the_identity_headers_is_never_stored(db):
    logs, _ = identity_logs()
    first = logs[GATEWAY][0]
    first["BackendRequestHeaders"] = (
        '{"Authorization": "Bearer eyJhbGciOi.secret.sig", "x-caller-oid": "' + person(8) + '"}'
    )
    rows_store(table=GATEWAY, rows=[first])
    stored = GatewayRequest.objects.get(correlation_id=first["CorrelationId"])
    assert "eyJhbGciOi" not in str(stored.request_headers)
    assert stored.caller_object_id == person(8)


@override_settings(PORTAL_GATEWAY_IDENTITIES=[GATEWAY_OID])
def test_the_request_page_shows_the_caller_and_the_source(db, client_for, reviewer_user):
    from usage.models import NamedIdentity

    logs, expected = identity_logs()
    rows_store(table=GATEWAY, rows=logs[GATEWAY])
    NamedIdentity.objects.create(object_id=person(1), display_name="Erin Example")
    correlation_id = list(expected)[0]
    page = client_for(reviewer_user).get(f"/requests/{correlation_id}/").content.decode()
    assert "Erin Example" in page and person(1) in page
    assert 'data-source="header-backend"' in page
    assert "Header on the backend request" in page


def test_the_admin_proposes_the_gateway_identity_and_confirming_it_stores_it(db, client):
    from django.contrib.auth.models import User

    logs, _ = identity_logs()
    rows_store(table=GATEWAY, rows=logs[GATEWAY])
    rows_store(table=NATIVE, rows=logs[NATIVE])
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    html = client.get("/admin/usage/gatewayidentity/").content.decode()
    assert f'data-object-id="{GATEWAY_OID}"' in html
    confirm = f"/admin/usage/gatewayidentity/add/?object_id={GATEWAY_OID}"
    assert confirm in html
    assert f'value="{GATEWAY_OID}"' in client.get(confirm).content.decode()
    response = client.post(
        "/admin/usage/gatewayidentity/add/", {"object_id": f"  {GATEWAY_OID.upper()} ", "note": "apim"}
    )
    assert response.status_code == 302
    stored = GatewayIdentity.objects.get()
    assert (stored.object_id, stored.created_by) == (GATEWAY_OID, root)
    html = client.get("/admin/usage/gatewayidentity/").content.decode()
    assert f'data-object-id="{GATEWAY_OID}"' not in html
