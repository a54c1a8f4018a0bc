"""Page response times by view and Celery task durations: Prometheus histograms kept in Redis,
so every process adds to and answers the same numbers."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from aoai_portal import timings
from aoai_portal.timings import PAGE_SECONDS, TASK_SECONDS, timing_record, timings_reset

pytestmark = pytest.mark.django_db
TOKEN = "s3cret-metrics-token"
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["redis", "memory"])
def store(request, settings):
    settings.PORTAL_METRICS_TOKEN = TOKEN
    if request.param == "redis":
        redis.Redis.from_url(REDIS_URL).ping()
        settings.REDIS_URL = REDIS_URL
    else:
        settings.REDIS_URL = ""
    timings_reset()
    yield request.param
    timings_reset()


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_each_page_is_timed_under_its_url_name_not_its_path(client, store, client_for, finance_user):
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    finance = client_for(finance_user)
    assert finance.get("/quotas/?month=2026-10").status_code == 200
    assert finance.get("/quotas/?month=2026-11").status_code == 200
    assert client.get("/no/such/page/42").status_code == 404

    samples = scrape(client)
    assert samples[("aoai_page_response_seconds_count", (("view", "healthz"),))] == 3
    assert samples[("aoai_page_response_seconds_count", (("view", "quotas:overview"),))] == 2
    assert samples[("aoai_page_response_seconds_count", (("view", "(unresolved)"),))] == 1
    assert samples[("aoai_page_response_seconds_bucket", (("le", "+Inf"), ("view", "healthz")))] == 3
    assert samples[("aoai_page_response_seconds_sum", (("view", "healthz"),))] > 0
    views = {dict(labels).get("view") for name, labels in samples if name.startswith("aoai_page_")}
    assert not any("/" in view for view in views if view)


def test_buckets_add_up_cumulatively(client, store):
    for seconds in (0.003, 0.02, 0.02, 7.0, 99.0):
        timing_record(histogram=PAGE_SECONDS, labels=("usage:chargeback",), seconds=seconds)

    samples = scrape(client)

    def bucket(le):
        return samples[("aoai_page_response_seconds_bucket", (("le", le), ("view", "usage:chargeback")))]

    assert (bucket("0.005"), bucket("0.025"), bucket("5.0"), bucket("10.0"), bucket("+Inf")) == (1, 3, 3, 4, 5)
    assert samples[("aoai_page_response_seconds_sum", (("view", "usage:chargeback"),))] == pytest.approx(106.043)


def test_a_celery_task_run_is_timed_by_name_and_state(client, store):
    from usage.tasks import request_partitions_ahead

    request_partitions_ahead.delay()
    request_partitions_ahead.delay()

    samples = scrape(client)
    key = ("aoai_celery_task_duration_seconds_count", (("state", "success"), ("task", "usage.request_partitions_ahead")))
    assert samples[key] == 2


def test_another_process_adds_to_the_same_histogram_and_a_restart_keeps_it(client, store):
    if store != "redis":
        pytest.skip("only Redis is shared between processes")
    timing_record(histogram=TASK_SECONDS, labels=("usage.ingest_pull", "success"), seconds=1.5)
    code = (
        "import django; django.setup();"
        "from aoai_portal.timings import TASK_SECONDS, timing_record;"
        "timing_record(histogram=TASK_SECONDS, labels=('usage.ingest_pull', 'success'), seconds=2.5)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aoai_portal.settings", "REDIS_URL": REDIS_URL}
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=env, check=True, timeout=60)
    timings._clients.clear()  # as a restarted process: nothing kept in memory

    samples = scrape(client)
    labels = (("state", "success"), ("task", "usage.ingest_pull"))
    assert samples[("aoai_celery_task_duration_seconds_count", labels)] == 2
    assert samples[("aoai_celery_task_duration_seconds_sum", labels)] == pytest.approx(4.0)


def test_a_redis_outage_loses_observations_not_pages(client, settings):
    settings.PORTAL_METRICS_TOKEN = TOKEN
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    assert client.get("/healthz").status_code in (200, 503)
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert b"aoai_page_response_seconds_count" not in response.content
