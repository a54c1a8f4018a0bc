"""What other apps do with requests as ingestion writes or refreshes them: hooks registered at ready.

usage sits below the review app (``.importlinter``) and cannot call it: audit registers its
``flags_evaluate`` here from ``AuditConfig.ready``, and ``requests_write`` / ``requests_refresh``
(``usage.ingestion.pipeline``) run every hook on each chunk of requests, loaded once for all.
"""

from collections.abc import Collection
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from usage.db.loaded import LoadedRequests


class RequestHook(Protocol):
    def __call__(self, *, correlation_ids: Collection[str], loaded: "LoadedRequests") -> object: ...


_hooks: list[RequestHook] = []


def request_hook_register(hook: RequestHook) -> None:
    """Run ``hook`` on every chunk of requests written or refreshed (once, however often asked)."""
    if hook not in _hooks:
        _hooks.append(hook)


def request_hooks_run(*, correlation_ids: Collection[str], loaded: "LoadedRequests") -> None:
    for hook in _hooks:
        hook(correlation_ids=correlation_ids, loaded=loaded)
