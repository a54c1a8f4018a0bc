"""Evidence is read-only in the admin site, and its text is shown only for a reason, audited."""

import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from audit.models import AccessAuditEntry, ReviewEvent, ReviewItem
from quotas.models import QuotaAlert
from tests.factories import chat_request_create
from usage.models import (
    GatewayRequest,
    IngestionRun,
    IngestionWatermark,
    LlmLogChunk,
    NativeLog,
    RejectedRow,
    UnmatchedRow,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PROMPT = "the quarterly numbers are confidential-7f3a"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
RAW = json.dumps({"CorrelationId": "rej-1", "ResponseCode": "OK", "RequestBody": f"{PROMPT} {AWS_KEY}"})


def _evidence() -> dict:
    """One row of each evidence model: {model: object}."""
    request = chat_request_create("ev-1", prompt=f"{PROMPT} {AWS_KEY}")
    request.request_headers = {"api-key": "[redacted]", "x-ms-region": "East US"}
    request.save(update_fields=["request_headers"])
    item = ReviewItem.objects.create(
        request=request, status=ReviewItem.Status.CONFIRMED, severity=3, request_time=request.time
    )
    ReviewEvent.objects.create(item=item, username="ravi", action="confirm", note="checked")
    return {
        GatewayRequest: request,
        NativeLog: NativeLog.objects.create(
            correlation_id="n-1", time=T0, properties={"modelName": "gpt-4o"}
        ),
        LlmLogChunk: LlmLogChunk.objects.create(
            correlation_id="ev-1", request_id="r1", sequence_number=1, time=T0, request_messages=PROMPT
        ),
        RejectedRow: RejectedRow.objects.create(
            source="ApiManagementGatewayLogs",
            reason="ResponseCode: not an integer",
            raw=RAW,
            fingerprint="f" * 64,
        ),
        IngestionRun: IngestionRun.objects.create(source="file", table="ApiManagementGatewayLogs"),
        IngestionWatermark: IngestionWatermark.objects.create(table="ApiManagementGatewayLogs", watermark=T0),
        UnmatchedRow: UnmatchedRow.objects.create(
            table="ApiManagementGatewayLogs", row_key="ev-1", partner_key="p-1", time=T0
        ),
        ReviewItem: item,
        AccessAuditEntry: AccessAuditEntry.objects.create(username="ravi", action="view_prompt"),
        QuotaAlert: QuotaAlert.objects.create(
            apim_subscription_id="sub-a", month=T0.date().replace(day=1), kind="quota", threshold=80
        ),
    }


def _url(obj, view: str) -> str:
    meta = obj._meta
    args = [] if view in ("add", "changelist") else [obj.pk]
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


@pytest.fixture(params=["admin_role", "superuser"])
def admin_client(request, client, admin_user):
    if request.param == "superuser":
        user = User.objects.create_superuser(username="root", password="pw-root", email="root@example.com")
    else:
        user = admin_user
    client.force_login(user)
    return client


def test_evidence_cannot_be_added_changed_or_deleted_in_the_admin(admin_client):
    evidence = _evidence()
    for model, obj in evidence.items():
        name = model._meta.label
        assert admin_client.get(_url(obj, "add")).status_code == 403, name
        assert admin_client.get(_url(obj, "change")).status_code == 200, name  # view-only page
        assert admin_client.post(_url(obj, "change"), {}).status_code == 403, name
        assert admin_client.get(_url(obj, "delete")).status_code == 403, name
        assert admin_client.post(_url(obj, "delete"), {"post": "yes"}).status_code == 403, name
        changelist = admin_client.get(_url(obj, "changelist"))
        assert changelist.status_code == 200, name
        assert "delete_selected" not in changelist.content.decode(), name
        admin_client.post(
            _url(obj, "changelist"),
            {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
        )
        assert model.objects.filter(pk=obj.pk).exists(), name
    assert ReviewEvent.objects.filter(item=evidence[ReviewItem]).exists()


def test_releasing_a_review_item_stays_and_is_recorded(admin_client):
    item = _evidence()[ReviewItem]
    response = admin_client.post(
        _url(item, "changelist"), {"action": "release", "_selected_action": [item.pk]}, follow=True
    )
    assert response.status_code == 200
    item.refresh_from_db()
    assert item.released_at is not None
    assert item.events.filter(action="release").exists()


def test_a_rejected_row_shows_its_raw_text_only_for_a_reason_and_audits_it(admin_client):
    row = _evidence()[RejectedRow]
    page = admin_client.get(_url(row, "change")).content.decode()
    assert PROMPT not in page and "ResponseCode" in page  # the reason shows, the raw text does not
    text_url = _url(row, "text")
    assert text_url in page
    assert not AccessAuditEntry.objects.exclude(username="ravi").exists()

    asked = admin_client.get(text_url)
    assert asked.status_code == 200 and PROMPT not in asked.content.decode()
    refused = admin_client.post(text_url, {"reason": ""})
    assert refused.status_code == 400 and PROMPT not in refused.content.decode()
    assert not AccessAuditEntry.objects.exclude(username="ravi").exists()

    shown = admin_client.post(text_url, {"reason": "ticket 4711: why was this row rejected"})
    body = shown.content.decode()
    assert shown.status_code == 200 and PROMPT in body
    assert AWS_KEY not in body  # a secret in the text stays masked, as on every page
    entry = AccessAuditEntry.objects.exclude(username="ravi").get()
    assert entry.action == AccessAuditEntry.Action.VIEW_PROMPT
    assert entry.reason == "ticket 4711: why was this row rejected"
    assert entry.correlation_id == "rej-1"
    assert entry.detail == {
        "via": "admin",
        "model": "usage.RejectedRow",
        "object_id": str(row.pk),
        "fields": ["raw"],
    }


@pytest.mark.parametrize("model", [GatewayRequest, LlmLogChunk])
def test_request_bodies_and_llm_messages_are_shown_only_for_a_reason(admin_client, model):
    obj = _evidence()[model]
    page = admin_client.get(_url(obj, "change")).content.decode()
    assert PROMPT not in page
    assert _url(obj, "text") in page
    shown = admin_client.post(_url(obj, "text"), {"reason": "incident 12, checking the prompt"})
    assert PROMPT in shown.content.decode()
    entry = AccessAuditEntry.objects.exclude(username="ravi").get()
    assert entry.correlation_id == "ev-1" and entry.reason == "incident 12, checking the prompt"


def test_the_request_page_of_the_admin_shows_the_stored_redacted_headers(admin_client):
    request = _evidence()[GatewayRequest]
    page = admin_client.get(_url(request, "change")).content.decode()
    assert "[redacted]" in page and "East US" in page
