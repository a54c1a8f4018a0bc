"""What other apps do when an Entra user signs in: hooks registered at ready.

The sign-in code is part of the core, below the usage app (``.importlinter``): usage registers
its People-table update here from ``UsageConfig.ready``. ``entra_user_sign_in`` runs each hook with
the verified ID-token claims; a failing hook is logged and never refuses the sign-in.
"""

import logging
from typing import Any, Protocol

from django.db import transaction

log = logging.getLogger(__name__)


class SignInHook(Protocol):
    def __call__(self, *, claims: dict[str, Any]) -> object: ...


_hooks: list[SignInHook] = []


def sign_in_hook_register(hook: SignInHook) -> None:
    """Run ``hook`` at every Entra sign-in (once, however often registered)."""
    if hook not in _hooks:
        _hooks.append(hook)


def sign_in_hooks_run(*, claims: dict[str, Any]) -> None:
    for hook in _hooks:
        try:
            # A savepoint: a hook's database error must not spoil the sign-in's transaction.
            with transaction.atomic():
                hook(claims=claims)
        except Exception:
            log.exception("sign-in hook %r failed for oid %s", hook, claims.get("oid"))
