"""``/healthz``: 503 when the database or Redis is down; data freshness in the body."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import IngestionWatermark

pytestmark = pytest.mark.django_db
CLOSED_PORT = 1  # nothing listens there: connections are refused at once


def test_it_reports_each_tables_lag(client, settings):
    settings.REDIS_URL = ""
    IngestionWatermark.objects.create(table=GATEWAY, watermark=timezone.now() - timedelta(minutes=10))
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "redis": "not configured"}
    assert 600 <= body["freshness"][GATEWAY]["lag_seconds"] < 660
    assert body["freshness"][LLM_LOG] == {"lag_seconds": None}  # never pulled
    assert set(body["freshness"]) == {GATEWAY, LLM_LOG, NATIVE}


def test_it_checks_redis_when_configured(client, settings):
    settings.REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
    if not settings.REDIS_URL:
        pytest.skip("TEST_REDIS_URL not set")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["redis"] == "ok"


def test_it_is_unhealthy_when_redis_is_down(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{CLOSED_PORT}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


def test_it_is_unhealthy_when_the_database_is_down():
    """A real process whose database refuses connections (a test's own connection cannot be cut)."""
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "r = Client().get('/healthz')\n"
        "print(r.status_code); print(r.content.decode())\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aoai_portal.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{CLOSED_PORT}/nothing",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=django_settings.BASE_DIR,
    )
    status, body = done.stdout.strip().split("\n", 1)
    assert status == "503", done.stderr
    body = json.loads(body)
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"].startswith("error")
    assert "freshness" not in body
