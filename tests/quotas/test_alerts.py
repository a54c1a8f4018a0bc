"""Alerts at 80% and 100% of quota or budget: once per threshold per month, by e-mail and webhook."""

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail
from freezegun import freeze_time

from aoai_portal.celery import app
from quotas.models import QuotaAlert
from quotas.services import quota_alerts_send, tier_assign
from quotas.tasks import quota_alerts_enqueue
from quotas.tasks import quota_alerts_send as quota_alerts_task
from tests.factories import priced_request_create, rollups_refresh, tier_add

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def mail_to(settings):
    settings.ALERT_EMAIL_TO = ["finops@example.com"]
    settings.ALERT_WEBHOOK_URL = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


@pytest.fixture
def sub_on_tier(db):
    tier = tier_add("Team", quota=1_000, budget="50.00")
    tier_assign(kind="subscription", key="sub-a", tier=tier, valid_from=datetime(2026, 1, 1, tzinfo=UTC))
    return tier


def _use(tokens: int, cost: str = "0", day: int = 3) -> None:
    priced_request_create(sub="sub-a", at=datetime(2026, 11, day, 9, tzinfo=UTC), tokens=tokens, cost=cost)
    rollups_refresh()


def test_each_threshold_alerts_once_even_when_alerts_run_again(mail_to, sub_on_tier):
    _use(850)
    first = quota_alerts_send(now=NOW)
    again = quota_alerts_send(now=NOW)

    assert [(a.kind, a.threshold, a.channel) for a in first] == [("quota", 80, "email")]
    assert again == []
    assert len(mail.outbox) == 1
    assert "reached 80%" in mail.outbox[0].subject and "sub-a" in mail.outbox[0].subject
    assert mail.outbox[0].to == ["finops@example.com"]
    assert "850 of 1,000 tokens" in mail.outbox[0].body

    _use(200, day=4)  # now 1,050 of 1,000
    second = quota_alerts_send(now=NOW)
    quota_alerts_send(now=NOW)

    assert [(a.kind, a.threshold) for a in second] == [("quota", 100)]
    assert len(mail.outbox) == 2
    assert "used up" in mail.outbox[1].subject
    assert list(QuotaAlert.objects.values_list("kind", "threshold", "channel")) == [
        ("quota", 80, "email"),
        ("quota", 100, "email"),
    ]


def test_jumping_past_100_percent_sends_one_message_and_records_80_as_suppressed(mail_to, sub_on_tier):
    _use(1_500)
    sent = quota_alerts_send(now=NOW)
    assert [a.threshold for a in sent] == [100]
    assert len(mail.outbox) == 1
    assert dict(QuotaAlert.objects.values_list("threshold", "channel")) == {80: "suppressed", 100: "email"}


def test_budget_alerts_are_separate_from_quota_alerts_and_a_new_month_alerts_again(mail_to, sub_on_tier):
    _use(10, cost="45.00")  # 90% of the 50.00 budget, 1% of the quota
    assert [(a.kind, a.threshold) for a in quota_alerts_send(now=NOW)] == [("budget", 80)]
    assert "45.00 of 50.00" in mail.outbox[0].body

    priced_request_create(sub="sub-a", at=datetime(2026, 12, 2, 9, tzinfo=UTC), tokens=10, cost="41.00")
    rollups_refresh()
    december = quota_alerts_send(now=datetime(2026, 12, 3, tzinfo=UTC))
    assert [(a.kind, a.threshold, a.month.month) for a in december] == [("budget", 80, 12)]
    assert QuotaAlert.objects.count() == 2


class _Hook(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(settings):
    handler = type("Hook", (_Hook,), {"received": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.ALERT_EMAIL_TO = []
    settings.ALERT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hooks/quota"
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 5
    yield handler
    server.shutdown()
    server.server_close()


def test_the_webhook_receives_a_teams_and_slack_style_json_post(webhook, sub_on_tier):
    _use(900)
    sent = quota_alerts_send(now=NOW)

    assert [a.channel for a in sent] == ["webhook"]
    assert len(webhook.received) == 1
    path, content_type, payload = webhook.received[0]
    assert (path, content_type) == ("/hooks/quota", "application/json")
    assert "sub-a" in payload["text"] and "80%" in payload["text"]
    assert payload["alert"] == {
        "apim_subscription_id": "sub-a",
        "product_id": "prod-a",
        "tier": "Team",
        "month": "2026-11",
        "kind": "quota",
        "threshold": 80,
        "used": "900",
        "limit": "1000",
    }


def test_a_failed_webhook_is_recorded_and_retried_by_the_next_run(webhook, sub_on_tier):
    webhook.status = 500
    _use(900)
    assert quota_alerts_send(now=NOW) == []
    alert = QuotaAlert.objects.get()
    assert alert.sent_at is None and "500" in alert.error

    webhook.status = 200
    assert [a.threshold for a in quota_alerts_send(now=NOW)] == [80]
    alert.refresh_from_db()
    assert (alert.channel, alert.error, alert.sent_at) == ("webhook", "", NOW)
    assert len(webhook.received) == 2  # the failed try and the retry; nothing after
    quota_alerts_send(now=NOW)
    assert len(webhook.received) == 2


def test_the_celery_task_sends_the_alerts_due_now(mail_to, sub_on_tier):
    _use(950)
    with freeze_time(NOW):
        assert quota_alerts_task.apply().get() == 1
        assert quota_alerts_task.apply().get() == 0
    assert len(mail.outbox) == 1


def test_ingestion_can_queue_the_alerts_to_run_after_its_transaction_commits(
    mail_to, sub_on_tier, django_capture_on_commit_callbacks
):
    assert app.conf.task_always_eager  # embedded mode: the queued task runs in-process
    _use(990)
    with freeze_time(NOW), django_capture_on_commit_callbacks(execute=True) as callbacks:
        quota_alerts_enqueue()
        assert mail.outbox == []  # nothing before the commit
    assert len(callbacks) == 1
    assert len(mail.outbox) == 1


def test_the_beat_schedule_also_runs_the_alerts_hourly_with_an_expiry():
    entry = app.conf.beat_schedule["quota-alerts"]
    assert entry["task"] == quota_alerts_task.name == "quotas.tasks.quota_alerts_send"
    assert entry["schedule"] == 3600.0 and entry["options"]["expires"] < 3600
