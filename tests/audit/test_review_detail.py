"""The request detail page: joined record, highlighted spans, masked secrets, audited opens and reveals."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AccessAuditEntry
from audit.services.flags import flags_evaluate
from audit.services.retention import retention_purge
from tests.factories import chat_request_create
from usage.models import NativeLog

pytestmark = pytest.mark.django_db

SECRET = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture
def record():
    request = chat_request_create(
        "d-1", prompt=f"my key is {SECRET}, mail bob@example.com", completion="Noted <b>bold</b>"
    )
    request.apim_request_id = "native-1"
    request.request_headers = {"api-key": "0123456789abcdef0123456789abcdef", "x-ms-client": "sdk"}
    request.save()
    NativeLog.objects.create(
        correlation_id="native-1",
        time=request.time,
        object_id="oid-123",
        duration_ms=812,
        location="swedencentral",
    )
    flags_evaluate(correlation_ids=["d-1"])
    return request


def test_it_shows_the_joined_record_with_marks_and_masks(client_for, reviewer_user, record):
    response = client_for(reviewer_user).get("/requests/d-1/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "oid-123" in body and "swedencentral" in body and "812 ms" in body
    assert '<mark title="email">bob@example.com</mark>' in body
    assert SECRET not in body  # masked in the text
    assert "AKIA••••••••MPLE" in body
    assert "0123456789abcdef0123456789abcdef" not in body  # and in the headers
    assert "Noted &lt;b&gt;bold&lt;/b&gt;" in body  # text is escaped
    assert response["Cache-Control"].startswith("max-age=0")


def test_every_open_is_written_to_the_access_audit(client_for, reviewer_user, record):
    client = client_for(reviewer_user)
    client.get("/requests/d-1/")
    client.get("/requests/d-1/")
    # Two looks within a quarter of an hour: one entry that counts both.
    entry = AccessAuditEntry.objects.get(action=AccessAuditEntry.Action.VIEW_PROMPT, correlation_id="d-1")
    assert entry.username == "ravi" and entry.detail["views"] == 2


def test_reveal_needs_a_reason_and_is_audited(client_for, reviewer_user, record):
    client = client_for(reviewer_user)
    response = client.post("/requests/d-1/", {"reason": ""})
    assert response.status_code == 400 and SECRET not in response.content.decode()
    assert not AccessAuditEntry.objects.filter(action=AccessAuditEntry.Action.REVEAL_SECRET).exists()
    response = client.post("/requests/d-1/", {"reason": "incident INC-42 needs the key id"})
    assert response.status_code == 200 and SECRET in response.content.decode()
    entry = AccessAuditEntry.objects.get(action=AccessAuditEntry.Action.REVEAL_SECRET)
    assert (entry.correlation_id, entry.reason, entry.username) == (
        "d-1",
        "incident INC-42 needs the key id",
        "ravi",
    )


def test_a_purged_request_shows_usage_but_no_text(client_for, reviewer_user, record):
    retention_purge(now=timezone.now() + timedelta(days=4000))
    body = client_for(reviewer_user).get("/requests/d-1/").content.decode()
    assert "purged by retention" in body and "bob@example.com" not in body
    assert ">19<" in body  # total tokens are kept


def test_an_unknown_request_is_404(client_for, reviewer_user):
    assert client_for(reviewer_user).get("/requests/nope/").status_code == 404


def test_reveal_is_offered_only_where_something_is_masked(client_for, reviewer_user, record):
    chat_request_create("d-plain", prompt="mail bob@example.com", completion="ok")
    flags_evaluate(correlation_ids=["d-plain"])
    client = client_for(reviewer_user)
    assert 'id="reveal-form"' in client.get("/requests/d-1/").content.decode()
    assert "Reveal masked text" not in client.get("/requests/d-plain/").content.decode()
    # Posted anyway: nothing to reveal, so no reveal in the audit.
    response = client.post("/requests/d-plain/", {"reason": "curious about nothing"})
    assert response.status_code == 400 and "Nothing is masked on this request." in response.content.decode()
    assert not AccessAuditEntry.objects.filter(action=AccessAuditEntry.Action.REVEAL_SECRET).exists()


def test_a_masked_header_alone_offers_reveal(client_for, reviewer_user):
    request = chat_request_create("d-hdr", prompt="hello", completion="hi")
    request.request_headers = {"x-debug": "token AKIAIOSFODNN7EXAMPLE"}
    request.save()
    body = client_for(reviewer_user).get("/requests/d-hdr/").content.decode()
    assert SECRET not in body and 'id="reveal-form"' in body
