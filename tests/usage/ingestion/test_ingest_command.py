"""`manage.py ingest` and the Celery task: thin entry points to the Log Analytics pull."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from aoai_portal.celery import app
from tests.support.log_analytics_fixtures import END, START, watermarks
from usage.ingestion.tables import GATEWAY, LLM_LOG, NATIVE
from usage.models import GatewayRequest
from usage.tasks import ingest_pull

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("ingest", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_ingest_command_backfills_a_range_and_reports_per_table(emulator, capsys):
    out, _ = run("--since", START.isoformat(), "--until", END.isoformat())

    for table in (GATEWAY, LLM_LOG, NATIVE):
        assert f"{table}: 3 windows (0 split)" in out
    assert "rejected; watermark 2026-10-05 12:00:00 UTC" in out
    assert GatewayRequest.objects.exists()
    # The progress bar counts hours of logs covered (3 tables x 3 hours).
    assert "9.0/9.0 h of logs" in capsys.readouterr().err


def test_the_ingest_command_can_pull_one_table(emulator):
    out, _ = run("--since", START.isoformat(), "--until", END.isoformat(), "--table", NATIVE, "--no-progress")
    assert NATIVE in out and GATEWAY not in out
    assert list(watermarks()) == [NATIVE]


def test_the_ingest_command_fails_clearly_when_a_table_fails(emulator, settings):
    emulator.fail_next("server_error", table=GATEWAY, times=settings.INGEST_RETRIES + 1)
    with pytest.raises(CommandError, match="some tables failed"):
        run("--since", START.isoformat(), "--until", END.isoformat(), "--no-progress")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--until", "2026-10-05"], "--until needs --since"),
        (["--since", "2026-10-05", "--until", "2026-10-04"], "--since must be before --until"),
        (["--since", "last tuesday"], "is not a date"),
    ],
)
def test_the_ingest_command_rejects_bad_ranges(emulator, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_the_ingest_command_says_what_is_missing_without_a_workspace(settings):
    settings.LOG_ANALYTICS_WORKSPACE_ID = ""
    with pytest.raises(CommandError, match="LOG_ANALYTICS_WORKSPACE_ID"):
        run("--no-progress")


def test_the_beat_schedule_runs_the_pull_task_every_interval_with_an_expiry(settings):
    entry = app.conf.beat_schedule["ingest-pull"]
    assert entry["task"] == ingest_pull.name == "usage.ingest_pull"
    assert entry["schedule"] == settings.INGEST_INTERVAL_SECONDS
    assert 0 < entry["options"]["expires"] <= settings.INGEST_INTERVAL_SECONDS


def test_the_pull_task_runs_the_incremental_pull(emulator, settings):
    settings.INGEST_START_LOOKBACK_SECONDS = 3 * 3600
    settings.INGEST_DELAY_SECONDS = 0
    # The emulator's rows are in the past; pull from the watermark we set just before them.
    from usage.models import IngestionWatermark

    for table in (GATEWAY, LLM_LOG, NATIVE):
        IngestionWatermark.objects.create(
            table=table, watermark=START + timedelta(seconds=settings.INGEST_OVERLAP_SECONDS)
        )
    settings.INGEST_WINDOW_SECONDS = 366 * 86400  # one window up to now
    result = ingest_pull.apply().get()

    assert result[GATEWAY]["error"] == ""
    assert result[GATEWAY]["stored"] == GatewayRequest.objects.count() > 0


def test_the_pull_task_skips_quietly_without_a_workspace(settings):
    settings.LOG_ANALYTICS_WORKSPACE_ID = ""
    assert ingest_pull.apply().get() == {}
