"""Celery tasks of prompt review: thin wrappers over audit.services.retention."""

from celery import shared_task

from .services.retention import retention_purge as retention_purge_run


@shared_task(name="audit.tasks.retention_purge")
def retention_purge() -> dict[str, int]:
    """Nightly: purge prompt/completion text past retention (audited by the service)."""
    result = retention_purge_run()
    return {"requests": result.requests, "llm_chunks": result.llm_chunks}
