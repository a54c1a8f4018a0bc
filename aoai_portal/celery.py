import os
import time
from typing import Any

from celery import Celery, Task
from celery.signals import task_postrun, task_prerun

from .timings import TASK_SECONDS, timing_record

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aoai_portal.settings")

app = Celery("aoai_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Task durations (aoai_celery_task_duration_seconds{task,state}): prerun and postrun of a task run
# in the same process, so its start waits here by task id until it ends.
_started: dict[str, float] = {}


@task_prerun.connect
def _task_started(task_id: str | None = None, **_kwargs: object) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


@task_postrun.connect
def _task_finished(
    task_id: str | None = None, task: Task[Any, Any] | None = None, state: str | None = None, **_kwargs: object
) -> None:
    started = _started.pop(task_id, None) if task_id else None
    if started is None or task is None:
        return
    labels = (task.name, (state or "unknown").lower())
    timing_record(histogram=TASK_SECONDS, labels=labels, seconds=time.perf_counter() - started)
