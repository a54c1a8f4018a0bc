"""Names from Microsoft Graph: the real msal and requests, over HTTPS, against the local Graph emulator."""

from datetime import timedelta

import pytest

from aoai_portal.celery import app
from tests.factories import gateway_request_create
from tests.support.review_data import T0
from usage.models import NamedIdentity, NativeLog
from usage.people.graph import GraphError, NotConfigured, graph_people_refresh
from usage.people.graph_emulator import GraphEmulator
from usage.people.services import person_observe
from usage.tasks import people_graph_refresh

ANN = "aaaaaaaa-0000-0000-0000-000000000001"
BEN = "aaaaaaaa-0000-0000-0000-000000000002"
BOT = "bbbbbbbb-0000-0000-0000-000000000001"  # a service principal's object id
BOT_APP_ID = "cccccccc-0000-0000-0000-000000000001"  # its application (client) id
GATEWAY_MI = "dddddddd-0000-0000-0000-000000000001"  # APIM's managed identity, in native logs
GHOST = "eeeeeeee-0000-0000-0000-000000000001"  # deleted from the directory
NOW = T0 + timedelta(days=1)


@pytest.fixture
def graph(settings):
    emulator = GraphEmulator().start()
    settings.PORTAL_GRAPH_TENANT_ID = emulator.tenant_id
    settings.PORTAL_GRAPH_CLIENT_ID = emulator.client_id
    settings.PORTAL_GRAPH_CLIENT_SECRET = emulator.client_secret
    settings.PORTAL_GRAPH_AUTHORITY = emulator.base_url
    settings.PORTAL_GRAPH_BASE_URL = emulator.base_url
    settings.PORTAL_GRAPH_CA_BUNDLE = emulator.ca_path
    settings.PORTAL_GRAPH_REFRESH_DAYS = 7
    emulator.add_user(ANN, displayName="Ann Analyst", mail="ann@contoso.example", department="Finance")
    emulator.add_user(BEN, displayName="Ben Builder", mail=None, userPrincipalName="ben@contoso.example")
    emulator.add_service_principal(BOT, appId=BOT_APP_ID, displayName="Invoice Bot")
    emulator.add_service_principal(
        GATEWAY_MI, appId="ffffffff-0000-0000-0000-000000000009", displayName="apim-contoso"
    )
    yield emulator
    emulator.stop()


@pytest.fixture
def traffic(db):
    """Requests naming callers by header (a user, an app by its client id, an unknown id, a non-GUID
    APIM user id) and native logs naming APIM's managed identity."""
    for caller in (ANN, BEN, BEN, BOT_APP_ID, GHOST, "apim-user-42"):
        gateway_request_create(time=T0, caller_object_id=caller)
    NativeLog.objects.create(correlation_id="native-1", time=T0, object_id=GATEWAY_MI)
    NativeLog.objects.create(correlation_id="native-2", time=T0, object_id=BOT)
    # Outside the lookback: never asked.
    gateway_request_create(
        time=T0 - timedelta(days=60), caller_object_id="aaaaaaaa-0000-0000-0000-0000000000ff"
    )


def _people() -> dict[str, tuple[str, str, str, str]]:
    return {p.object_id: (p.display_name, p.email, p.kind, p.source) for p in NamedIdentity.objects.all()}


def test_it_names_users_and_applications_seen_in_requests(graph, traffic):
    result = graph_people_refresh(now=NOW)
    assert (result.asked, result.users, result.applications, result.not_found, result.failed) == (
        6,
        2,
        3,
        1,
        0,
    )
    assert _people() == {
        ANN: ("Ann Analyst", "ann@contoso.example", "user", "graph"),
        BEN: ("Ben Builder", "ben@contoso.example", "user", "graph"),
        BOT: ("Invoice Bot", "", "application", "graph"),
        BOT_APP_ID: ("Invoice Bot", "", "application", "graph"),
        GATEWAY_MI: ("apim-contoso", "", "application", "graph"),
        GHOST: ("", "", "user", "graph"),
    }
    assert NamedIdentity.objects.get(object_id=ANN).department == "Finance"
    assert all(p.graph_checked_at == NOW for p in NamedIdentity.objects.all())
    # One token for the run; users first, then service principals by object id, then by app id.
    assert len(graph.token_requests) == 1
    assert graph.token_requests[0]["grant_type"] == "client_credentials"
    assert [len(b) for b in graph.batches] == [6, 4, 2]
    assert graph.batches[0][0].startswith(f"/users/{ANN}?$select=")
    assert graph.batches[2] == [
        f"/servicePrincipals(appId='{BOT_APP_ID}')?$select=id,appId,displayName",
        f"/servicePrincipals(appId='{GHOST}')?$select=id,appId,displayName",
    ]


def test_ids_are_not_asked_again_within_the_refresh_found_or_not(graph, traffic):
    graph_people_refresh(now=NOW)
    asked = len(graph.batches)
    again = graph_people_refresh(now=NOW + timedelta(days=6))
    assert again.asked == 0
    assert len(graph.batches) == asked
    later = graph_people_refresh(now=NOW + timedelta(days=8))
    assert later.asked == 6


def test_batches_hold_at_most_20_requests(graph, db):
    ids = [f"aaaaaaaa-0000-0000-0000-{n:012d}" for n in range(1, 46)]
    for oid in ids:
        graph.add_user(oid, displayName=f"User {oid[-2:]}")
        gateway_request_create(time=T0, caller_object_id=oid)
    result = graph_people_refresh(now=NOW)
    assert result.users == 45
    assert [len(b) for b in graph.batches] == [20, 20, 5]


def test_rows_written_by_hand_are_never_asked_and_never_overwritten(graph, traffic):
    NamedIdentity.objects.create(object_id=ANN, display_name="Ann (Finance lead)", source="admin")
    person_observe(object_id=BEN, source="signin", display_name="Ben B.")
    graph_people_refresh(now=NOW)
    assert not any(ANN in url for batch in graph.batches for url in batch)
    assert NamedIdentity.objects.get(object_id=ANN).display_name == "Ann (Finance lead)"
    # A sign-in row is automatic: Graph refreshes it.
    assert NamedIdentity.objects.get(object_id=BEN).display_name == "Ben Builder"


def test_a_throttled_batch_is_retried_after_its_retry_after(graph, traffic):
    graph.throttle_batches = 2
    graph.retry_after = "3"
    waits: list[float] = []
    result = graph_people_refresh(now=NOW, sleep=waits.append)
    assert waits == [3.0, 3.0]
    assert (result.users, result.applications, result.not_found, result.throttled) == (2, 3, 1, False)


def test_a_throttled_request_inside_a_batch_is_asked_again_alone(graph, traffic):
    graph.throttle_ids = {BEN}
    graph.retry_after = "2"
    waits: list[float] = []
    graph_people_refresh(now=NOW, sleep=waits.append)
    assert waits == [2.0]
    assert graph.batches[1] == [f"/users/{BEN}?$select=id,displayName,mail,userPrincipalName,department"]
    assert NamedIdentity.objects.get(object_id=BEN).display_name == "Ben Builder"


def test_a_long_retry_after_ends_the_run_and_leaves_the_ids_for_the_next(graph, traffic):
    graph.throttle_batches = 1
    graph.retry_after = "3600"
    waits: list[float] = []
    result = graph_people_refresh(now=NOW, sleep=waits.append)
    assert result.throttled and waits == []
    assert NamedIdentity.objects.count() == 0
    assert graph_people_refresh(now=NOW, sleep=waits.append).users == 2


def test_a_wrong_secret_is_a_clear_error_and_marks_nothing(graph, traffic, settings):
    settings.PORTAL_GRAPH_CLIENT_SECRET = "wrong"
    with pytest.raises(GraphError, match="invalid_client"):
        graph_people_refresh(now=NOW)
    assert NamedIdentity.objects.count() == 0
    assert graph.batches == []


def test_the_emulator_certificate_must_be_trusted(graph, traffic, settings):
    settings.PORTAL_GRAPH_CA_BUNDLE = ""
    with pytest.raises(GraphError, match="CERTIFICATE_VERIFY_FAILED"):
        graph_people_refresh(now=NOW)


def test_without_settings_the_task_does_nothing(settings, traffic):
    settings.PORTAL_GRAPH_CLIENT_ID = ""
    with pytest.raises(NotConfigured):
        graph_people_refresh(now=NOW)
    assert people_graph_refresh() == {}
    assert NamedIdentity.objects.count() == 0


def test_the_task_runs_hourly_from_the_beat_schedule_with_an_expiry():
    entry = app.conf.beat_schedule["people-graph"]
    assert entry["task"] == people_graph_refresh.name == "usage.people_graph_refresh"
    assert entry["schedule"] == 3600.0
    assert 0 < entry["options"]["expires"] <= 3600
