"""Retention: text purged after its period, flagged items later, confirmed ones kept until released."""

from datetime import timedelta

import pytest
from freezegun import freeze_time

from audit.models import AccessAuditEntry, ReviewItem
from audit.services.flags import flags_evaluate
from audit.services.retention import retention_purge
from audit.services.review import review_confirm, review_release, review_take
from audit.tasks import retention_purge as retention_purge_task
from tests.factories import chat_request_create
from tests.support.review_data import T0, make_llm_chunks
from usage.models import GatewayRequest, LlmLogChunk

pytestmark = pytest.mark.django_db


def purged(correlation_id: str) -> bool:
    row = GatewayRequest.objects.get(correlation_id=correlation_id)
    return row.bodies_purged_at is not None and row.request_body == "" and row.response_body == ""


@pytest.fixture
def rows(settings, reviewer_user, admin_user):
    settings.PROMPT_RETENTION_DAYS = 90
    settings.FLAGGED_RETENTION_DAYS = 365
    chat_request_create("plain", time=T0)
    make_llm_chunks("plain", messages=[{"role": "user", "content": "hi"}], completion="hello")
    chat_request_create("flagged", time=T0, prompt="mail bob@example.com")
    chat_request_create("confirmed", time=T0, prompt="card 4111111111111111")
    flags_evaluate(correlation_ids=["flagged", "confirmed"])
    item = ReviewItem.objects.get(request__correlation_id="confirmed")
    review_take(item_id=item.pk, user=reviewer_user)
    review_confirm(item_id=item.pk, user=reviewer_user, note="real")
    return item


def test_nothing_is_purged_one_second_before_the_period_ends(rows):
    with freeze_time(T0 + timedelta(days=90) - timedelta(seconds=1)):
        result = retention_purge()
    assert result.requests == 0
    assert not GatewayRequest.objects.filter(bodies_purged_at__isnull=False).exists()


def test_unflagged_text_is_purged_after_the_prompt_period_and_usage_stays(rows):
    with freeze_time(T0 + timedelta(days=90, seconds=1)):
        result = retention_purge()
    assert result.requests == 1 and purged("plain")
    assert not purged("flagged") and not purged("confirmed")
    plain = GatewayRequest.objects.get(correlation_id="plain")
    assert (plain.prompt_tokens, plain.total_tokens) == (12, 19)
    assert (
        not LlmLogChunk.objects.exclude(request_messages="", response_messages="")
        .filter(correlation_id="plain")
        .exists()
    )
    assert LlmLogChunk.objects.get(correlation_id="plain", sequence_number=0).prompt_tokens == 5


def test_flagged_text_is_kept_for_the_flagged_period_and_confirmed_until_released(rows, admin_user):
    with freeze_time(T0 + timedelta(days=365, seconds=1)):
        retention_purge()
        assert purged("flagged") and not purged("confirmed")
        review_release(item_id=rows.pk, user=admin_user)
        retention_purge()
        assert purged("confirmed")
    # Flags (offsets only) survive the purge, and re-evaluation leaves them alone.
    flags_evaluate(correlation_ids=["flagged"])
    assert ReviewItem.objects.get(request__correlation_id="flagged").request.flags.exists()


def test_the_purge_is_audited_and_running_it_again_purges_nothing_more(rows):
    with freeze_time(T0 + timedelta(days=100)):
        retention_purge_task.delay()
        second = retention_purge()
    entries = AccessAuditEntry.objects.filter(action=AccessAuditEntry.Action.PURGE).order_by("time", "pk")
    assert [e.detail["requests"] for e in entries] == [1, 0]
    assert entries[0].detail["correlation_ids"] == ["plain"] and entries[0].username == "system"
    assert second.requests == 0


def test_a_late_refresh_of_a_purged_request_keeps_its_usage(rows):
    from usage.ingestion.pipeline import requests_refresh

    GatewayRequest.objects.filter(correlation_id="plain").update(token_source="reported")
    with freeze_time(T0 + timedelta(days=100)):
        retention_purge()
    requests_refresh(correlation_ids=["plain"])  # e.g. a join partner arrived late
    plain = GatewayRequest.objects.get(correlation_id="plain")
    assert (plain.prompt_tokens, plain.completion_tokens, plain.token_source) == (12, 7, "reported")


def test_the_purge_runs_nightly_from_the_beat_schedule(settings):
    from aoai_portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["retention-purge"]
    assert entry["task"] == "audit.tasks.retention_purge"
    assert entry["task"] in app.tasks
    assert entry["schedule"].hour == {2} and entry["schedule"].minute == {30}
